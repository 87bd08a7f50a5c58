/* SPDX-License-Identifier: MIT */
/* The portal's configuration file (core/config/portal_config.h) as the
 * model the portal runs on (portal.h): names become ids, indexes become
 * names, resources become the wire's nt_pmsg_resource with their Allow
 * lists. Pure. The model's arrays are owned here: free them with
 * nt_portal_model_owned_free. */
#ifndef NT_CORE_PORTAL_PORTAL_FROM_CONFIG_H
#define NT_CORE_PORTAL_PORTAL_FROM_CONFIG_H

#include <stddef.h>

#include "core/config/portal_config.h"
#include "core/portal/portal.h"

struct nt_portal_model_owned {
	struct nt_portal_model model; /* points at the arrays below */
	struct nt_portal_site *sites;
	struct nt_portal_gateway *gateways;
	struct nt_portal_client *clients;
	struct nt_portal_resource *resources;
};

/* 0; -EINVAL with "FILE:LINE: reason" in err when an entry exceeds what
 * the model holds (Sites or Allow of one resource); -ENOMEM. The model is
 * not checked here: nt_portal_create / nt_portal_reload do that. */
int nt_portal_model_from_config(const struct nt_portal_config *cfg,
				struct nt_portal_model_owned *out, char *err, size_t errlen);
void nt_portal_model_owned_free(struct nt_portal_model_owned *m);

#endif
