// SPDX-License-Identifier: MIT
/* core/portal: the portal's state machine driven with frames built by the
 * codec, and the state file. */
#include "core/portal/portal.h"
#include "core/portal/portal_state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "platform/log.h"
#include "platform/random.h"

#define T0_UNIX 1767225600 /* 2026-01-01 */
#define TTL	3600

/* ---- what the portal did (its ops) ---- */

#define OUT_MAX 64
struct out {
	uint64_t conn;
	char *text;
};
static struct out outs[OUT_MAX];
static size_t n_outs;
static uint64_t closed[8];
static uint16_t closed_status[8];
static size_t n_closed;
static int64_t timer_delay = -2;
static struct nt_portal_now now;

static void op_send(void *ctx, uint64_t conn, const char *text, size_t len)
{
	(void)ctx;
	assert_true(n_outs < OUT_MAX);
	outs[n_outs].conn = conn;
	outs[n_outs].text = strndup(text, len);
	n_outs++;
}

static void op_close(void *ctx, uint64_t conn, uint16_t status)
{
	(void)ctx;
	assert_true(n_closed < 8);
	closed_status[n_closed] = status;
	closed[n_closed++] = conn;
}

static void op_timer(void *ctx, int64_t delay_ms)
{
	(void)ctx;
	timer_delay = delay_ms;
}

static const struct nt_portal_ops ops = {op_send, op_close, op_timer, NULL};

static void clear(void)
{
	for (size_t i = 0; i < n_outs; i++)
		free(outs[i].text);
	n_outs = 0;
	n_closed = 0;
}

/* The number of frames sent to conn with that event, and the last one. */
static size_t count(uint64_t conn, const char *event, struct nt_phx_frame *last)
{
	size_t n = 0;

	for (size_t i = 0; i < n_outs; i++) {
		struct nt_phx_frame f;

		if (outs[i].conn != conn)
			continue;
		assert_int_equal(nt_phx_decode(outs[i].text, strlen(outs[i].text), &f), 0);
		if (strcmp(f.event, event))
			continue;
		n++;
		if (last)
			*last = f;
	}
	return n;
}

/* The reply to ref on conn: 1 ok, 0 error (reason copied), -1 none. */
static int reply_of(uint64_t conn, int64_t ref, char *reason)
{
	for (size_t i = 0; i < n_outs; i++) {
		struct nt_phx_frame f;
		const char *resp;
		size_t rlen;
		bool ok;

		if (outs[i].conn != conn)
			continue;
		assert_int_equal(nt_phx_decode(outs[i].text, strlen(outs[i].text), &f), 0);
		if (strcmp(f.event, NT_PHX_EV_REPLY) || !f.has_ref || f.ref != ref)
			continue;
		assert_int_equal(nt_phx_reply_parse(f.payload, f.payload_len, &ok, &resp, &rlen),
				 0);
		if (!ok && reason) {
			char r[NT_PMSG_REASON_MAX + 1];

			assert_int_equal(nt_pmsg_disconnect_decode(resp, rlen, r), 0);
			strcpy(reason, r);
		}
		return ok;
	}
	return -1;
}

/* ---- the configuration ---- */

enum { C_ALICE = 1, C_BOB = 2, C_CAROL = 3, G_1 = 11, G_2 = 12, G_LAB = 13 };

static struct nt_portal_site sites[2];
static struct nt_portal_gateway gws[3];
static struct nt_portal_client cls[3];
static struct nt_portal_resource res[4];
static struct nt_portal_model model;

static void add_resource(size_t i, const char *id, const char *addr, const char *site,
			 const char *allow)
{
	struct nt_portal_resource *r = &res[i];

	memset(r, 0, sizeof(*r));
	snprintf(r->res.id, sizeof(r->res.id), "%s", id);
	snprintf(r->res.name, sizeof(r->res.name), "%s", id + 2);
	r->res.type = NT_PMSG_RES_CIDR;
	snprintf(r->res.address, sizeof(r->res.address), "%s", addr);
	assert_int_equal(wg_allowedips_parse_cidr(addr, &r->res.cidr), 0);
	r->res.n_sites = 1;
	snprintf(r->res.sites[0].id, sizeof(r->res.sites[0].id), "%s", site);
	snprintf(r->res.sites[0].name, sizeof(r->res.sites[0].name), "%s", site + 2);
	if (allow) {
		r->n_allow = 1;
		snprintf(r->allow[0], sizeof(r->allow[0]), "%s", allow);
	}
}

static void build_model(void)
{
	memset(&model, 0, sizeof(model));
	memset(sites, 0, sizeof(sites));
	memset(gws, 0, sizeof(gws));
	memset(cls, 0, sizeof(cls));
	strcpy(sites[0].id, "s-office");
	strcpy(sites[0].name, "office");
	strcpy(sites[1].id, "s-lab");
	strcpy(sites[1].name, "lab");
	strcpy(gws[0].name, "gw1");
	strcpy(gws[0].site, "s-office");
	strcpy(gws[1].name, "gw2");
	strcpy(gws[1].site, "s-office");
	strcpy(gws[2].name, "gw-lab");
	strcpy(gws[2].site, "s-lab");
	for (size_t i = 0; i < 3; i++)
		memset(gws[i].token_hash, 0x40 + (int)i, NT_PORTAL_TOKEN_HASH_LEN);
	strcpy(cls[0].name, "alice");
	cls[0].n_groups = 1;
	strcpy(cls[0].groups[0], "eng");
	strcpy(cls[1].name, "bob");
	strcpy(cls[2].name, "carol");
	for (size_t i = 0; i < 3; i++)
		memset(cls[i].token_hash, 0x10 + (int)i, NT_PORTAL_TOKEN_HASH_LEN);
	add_resource(0, "r-db", "10.20.0.5/32", "s-office", "eng");
	add_resource(1, "r-web", "10.20.0.80/32", "s-office", "bob");
	add_resource(2, "r-lab", "10.30.0.0/24", "s-lab", "eng");
	add_resource(3, "r-secret", "10.40.0.1/32", "s-office", "nobody");
	res[0].res.n_filters = 1;
	res[0].res.filters[0] = (struct nt_pmsg_filter){NT_PMSG_TCP, 5432, 5432};
	assert_int_equal(wg_allowedips_parse_cidr("100.64.0.0/11", &model.pool4), 0);
	assert_int_equal(wg_allowedips_parse_cidr("fd00:6e74::/64", &model.pool6), 0);
	model.access_ttl_s = TTL;
	model.sites = sites;
	model.n_sites = 2;
	model.gateways = gws;
	model.n_gateways = 3;
	model.clients = cls;
	model.n_clients = 3;
	model.resources = res;
	model.n_resources = 4;
}

/* ---- driving it ---- */

static struct nt_portal *portal;
static int64_t next_ref;

static void open_conn(uint64_t conn, enum nt_portal_role role, const char *name)
{
	struct nt_portal_conn_info info = {.conn = conn, .role = role};
	const uint8_t *hash = NULL;

	snprintf(info.name, sizeof(info.name), "%s", name);
	for (size_t i = 0; i < 3; i++) {
		if (role == NT_PORTAL_CLIENT && !strcmp(cls[i].name, name))
			hash = cls[i].token_hash;
		if (role == NT_PORTAL_GATEWAY && !strcmp(gws[i].name, name))
			hash = gws[i].token_hash;
	}
	assert_non_null(hash);
	memcpy(info.token_hash, hash, NT_PORTAL_TOKEN_HASH_LEN);
	memset(info.public_key, (int)conn, NT_KEY_LEN);
	snprintf(info.endpoint, sizeof(info.endpoint), "192.0.2.%d:51820", (int)conn);
	nt_portal_on_open(portal, &info, now);
}

/* Sends one frame in, built by the codec; returns its ref. */
static int64_t frame_in(uint64_t conn, const char *topic, const char *event, const char *payload)
{
	char buf[4096];
	struct nt_phx_frame f;
	int64_t ref = next_ref++;
	int n = nt_phx_encode(buf, sizeof(buf), topic, event, payload, strlen(payload), ref);

	assert_true(n > 0);
	assert_int_equal(nt_phx_decode(buf, (size_t)n, &f), 0);
	nt_portal_on_frame(portal, conn, &f, now);
	return ref;
}

static void join(uint64_t conn, enum nt_portal_role role, const char *name)
{
	const char *topic = role == NT_PORTAL_CLIENT ? "client" : "gateway";

	open_conn(conn, role, name);
	assert_int_equal(reply_of(conn, frame_in(conn, topic, NT_PHX_EV_JOIN, "{}"), NULL), 1);
}

static void request(uint64_t conn, const char *rid, const char *connected)
{
	struct nt_pmsg_request_auth m = {0};
	char buf[1024];

	snprintf(m.resource_id, sizeof(m.resource_id), "%s", rid);
	if (connected) {
		m.n_gateways = 1;
		snprintf(m.connected_gateway_ids[0], sizeof(m.connected_gateway_ids[0]), "%s",
			 connected);
	}
	assert_true(nt_pmsg_request_auth_encode(buf, sizeof(buf), &m) > 0);
	assert_int_equal(
	    reply_of(conn, frame_in(conn, "client", "request_authorization", buf), NULL), 1);
}

static void failed_reason(uint64_t conn, const char *rid, enum nt_pmsg_fail_reason want)
{
	struct nt_phx_frame f;
	struct nt_pmsg_auth_failed m;

	assert_int_equal(count(conn, "authorization_creation_failed", &f), 1);
	assert_int_equal(nt_pmsg_auth_failed_decode(f.payload, f.payload_len, &m), 0);
	assert_string_equal(m.resource_id, rid);
	assert_int_equal(m.reason, want);
}

/* The create_authorization the gateway got (exactly one). */
static void created(uint64_t gw, struct nt_pmsg_grant *g)
{
	struct nt_phx_frame f;

	assert_int_equal(count(gw, "create_authorization", &f), 1);
	assert_int_equal(nt_pmsg_create_auth_decode(f.payload, f.payload_len, g), 0);
}

static void ack(uint64_t gw, const char *ref, int want_ok)
{
	char buf[256], reason[NT_PMSG_REASON_MAX + 1] = "";

	assert_true(nt_pmsg_auth_ack_encode(buf, sizeof(buf), ref) > 0);
	assert_int_equal(
	    reply_of(gw, frame_in(gw, "gateway", "authorization_created", buf), reason), want_ok);
	if (!want_ok)
		assert_string_equal(reason, "invalid_ref");
}

static int setup(void **state)
{
	char err[256];

	(void)state;
	build_model();
	now = (struct nt_portal_now){.mono_ms = 1000000, .unix_s = T0_UNIX};
	next_ref = 0;
	clear();
	assert_int_equal(nt_portal_create(&portal, &model, NULL, &ops, now, err, sizeof(err)), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	nt_portal_destroy(portal);
	portal = NULL;
	clear();
	return 0;
}

/* ---- tests ---- */

static void test_join_heartbeat_and_replies(void **state)
{
	char reason[NT_PMSG_REASON_MAX + 1];
	int64_t r;

	(void)state;
	open_conn(C_ALICE, NT_PORTAL_CLIENT, "alice");
	r = frame_in(C_ALICE, NT_PHX_TOPIC_PHOENIX, NT_PHX_EV_HEARTBEAT, "{}");
	assert_int_equal(reply_of(C_ALICE, r, NULL), 1);
	r = frame_in(C_ALICE, "client", "request_authorization", "{\"resource_id\":\"r-db\"}");
	assert_int_equal(reply_of(C_ALICE, r, reason), 0);
	assert_string_equal(reason, "not_joined");
	r = frame_in(C_ALICE, "gateway", NT_PHX_EV_JOIN, "{}");
	assert_int_equal(reply_of(C_ALICE, r, reason), 0);
	assert_string_equal(reason, "unknown_topic");
	assert_int_equal(count(C_ALICE, "init", NULL), 0);

	r = frame_in(C_ALICE, "client", NT_PHX_EV_JOIN, "{}");
	assert_int_equal(reply_of(C_ALICE, r, NULL), 1);
	/* The init comes right after the join reply. */
	assert_string_equal(strstr(outs[n_outs - 1].text, "\"event\":\"init\"") ? "init" : "",
			    "init");
	r = frame_in(C_ALICE, "client", NT_PHX_EV_JOIN, "{}");
	assert_int_equal(reply_of(C_ALICE, r, reason), 0);
	assert_string_equal(reason, "already_joined");
	r = frame_in(C_ALICE, "client", "frobnicate", "{}");
	assert_int_equal(reply_of(C_ALICE, r, reason), 0);
	assert_string_equal(reason, "unknown_message");
	r = frame_in(C_ALICE, "client", "request_authorization", "{\"resource\":1}");
	assert_int_equal(reply_of(C_ALICE, r, reason), 0);
	assert_string_equal(reason, "invalid_payload");
	/* A gateway's event on the client topic is no client event. */
	r = frame_in(C_ALICE, "client", "authorization_created", "{\"ref\":\"x\"}");
	assert_int_equal(reply_of(C_ALICE, r, reason), 0);
	assert_string_equal(reason, "unknown_message");
	assert_int_equal(count(C_ALICE, "init", NULL), 1);
}

static void client_init_of(uint64_t conn, struct nt_pmsg_client_init *m,
			   struct nt_pmsg_resource *arr, size_t cap)
{
	struct nt_phx_frame f;

	memset(m, 0, sizeof(*m));
	m->resources = arr;
	m->cap = cap;
	assert_int_equal(count(conn, "init", &f), 1);
	assert_int_equal(nt_pmsg_client_init_decode(f.payload, f.payload_len, m), 0);
}

static void test_client_init_contents(void **state)
{
	struct nt_pmsg_resource arr[8];
	struct nt_pmsg_client_init a, b, c;
	uint8_t a4[4];

	(void)state;
	join(C_ALICE, NT_PORTAL_CLIENT, "alice");
	join(C_BOB, NT_PORTAL_CLIENT, "bob");
	join(C_CAROL, NT_PORTAL_CLIENT, "carol");
	client_init_of(C_ALICE, &a, arr, 8);
	assert_int_equal(a.n, 2); /* by group eng */
	assert_string_equal(arr[0].id, "r-db");
	assert_string_equal(arr[1].id, "r-lab");
	assert_int_equal(arr[0].n_filters, 1);
	assert_int_equal(arr[0].filters[0].port_start, 5432);
	memcpy(a4, a.iface.ipv4, 4);
	/* 100.64.0.0/11 and fd00:6e74::/64, one index for both. */
	assert_int_equal(a4[0], 100);
	assert_int_equal(a4[1], 64);
	assert_int_equal(a.iface.ipv6[0], 0xfd);
	assert_int_equal(a.iface.ipv6[15], a4[3]);
	client_init_of(C_BOB, &b, arr, 8);
	assert_int_equal(b.n, 1); /* by name */
	assert_string_equal(arr[0].id, "r-web");
	assert_memory_not_equal(a.iface.ipv4, b.iface.ipv4, 4);
	client_init_of(C_CAROL, &c, arr, 8);
	assert_int_equal(c.n, 0);

	/* Stable: a reconnect gets the same addresses. */
	nt_portal_on_close(portal, C_ALICE, now);
	clear();
	join(100, NT_PORTAL_CLIENT, "alice");
	client_init_of(100, &b, arr, 8);
	assert_memory_equal(b.iface.ipv4, a4, 4);
}

static void test_failures_at_once(void **state)
{
	(void)state;
	now.mono_ms += NT_PORTAL_REJOIN_GRACE_MS; /* long after the start */
	join(C_ALICE, NT_PORTAL_CLIENT, "alice");
	clear();
	request(C_ALICE, "r-web", NULL); /* exists, allowed for bob only */
	failed_reason(C_ALICE, "r-web", NT_PMSG_FORBIDDEN);
	clear();
	request(C_ALICE, "r-nope", NULL);
	failed_reason(C_ALICE, "r-nope", NT_PMSG_NOT_FOUND);
	clear();
	request(C_ALICE, "r-db", NULL); /* allowed, no gateway of s-office connected */
	failed_reason(C_ALICE, "r-db", NT_PMSG_OFFLINE);
	/* A gateway of another site does not help. */
	join(G_LAB, NT_PORTAL_GATEWAY, "gw-lab");
	clear();
	request(C_ALICE, "r-db", NULL);
	failed_reason(C_ALICE, "r-db", NT_PMSG_OFFLINE);
	assert_int_equal(count(G_LAB, "create_authorization", NULL), 0);
}

/* Just after a (re)start the gateways are still reconnecting: a request
 * their resource waits for them (unanswered; the client asks again every
 * 2 s) instead of failing offline; after the grace, offline at once. */
static void test_rejoin_grace_after_start(void **state)
{
	struct nt_pmsg_grant g;

	(void)state;
	join(C_ALICE, NT_PORTAL_CLIENT, "alice");
	clear();
	request(C_ALICE, "r-db", NULL);
	assert_int_equal(count(C_ALICE, "authorization_creation_failed", NULL), 0);
	join(G_1, NT_PORTAL_GATEWAY, "gw1");
	clear();
	now.mono_ms += 2000;
	request(C_ALICE, "r-db", NULL);
	created(G_1, &g);
	ack(G_1, g.ref, 1);
	assert_int_equal(count(C_ALICE, "authorization_created", NULL), 1);
	nt_portal_on_close(portal, G_1, now);
	now.mono_ms += NT_PORTAL_REJOIN_GRACE_MS;
	clear();
	request(C_ALICE, "r-db", NULL);
	failed_reason(C_ALICE, "r-db", NT_PMSG_OFFLINE);
}

static void gateway_iface(uint64_t gw, struct nt_pmsg_iface *ifc, size_t *n_auth)
{
	struct nt_pmsg_grant arr[4];
	struct nt_pmsg_gateway_init m = {.authorizations = arr, .cap = 4};
	struct nt_phx_frame f;

	assert_int_equal(count(gw, "init", &f), 1);
	assert_int_equal(nt_pmsg_gateway_init_decode(f.payload, f.payload_len, &m), 0);
	*ifc = m.iface;
	*n_auth = m.n;
}

static void test_double_request_one_create_then_ack(void **state)
{
	struct nt_pmsg_resource arr[8];
	struct nt_pmsg_client_init ci;
	struct nt_pmsg_iface gifc;
	struct nt_pmsg_grant g;
	struct nt_pmsg_auth_created ac;
	struct nt_phx_frame f;
	uint8_t alice_key[NT_KEY_LEN], gw_key[NT_KEY_LEN];
	size_t n_auth;

	(void)state;
	join(G_1, NT_PORTAL_GATEWAY, "gw1");
	gateway_iface(G_1, &gifc, &n_auth);
	assert_int_equal(n_auth, 0);
	join(C_ALICE, NT_PORTAL_CLIENT, "alice");
	client_init_of(C_ALICE, &ci, arr, 8);
	clear();
	request(C_ALICE, "r-db", NULL);
	request(C_ALICE, "r-db", NULL);
	created(G_1, &g);
	assert_int_equal(count(C_ALICE, "authorization_creation_failed", NULL), 0);
	assert_int_equal(count(C_ALICE, "authorization_created", NULL), 0);
	assert_string_equal(g.resource.id, "r-db");
	assert_string_equal(g.client.id, "alice");
	memset(alice_key, C_ALICE, NT_KEY_LEN);
	assert_memory_equal(g.client.public_key, alice_key, NT_KEY_LEN);
	assert_memory_equal(g.client.ipv4, ci.iface.ipv4, 4);
	assert_memory_equal(g.client.ipv6, ci.iface.ipv6, 16);
	assert_int_equal(g.expires_at, T0_UNIX + TTL);
	assert_true(strlen(g.ref) >= 16);

	clear();
	ack(G_1, g.ref, 1);
	assert_int_equal(count(C_ALICE, "authorization_created", &f), 1);
	assert_int_equal(nt_pmsg_auth_created_decode(f.payload, f.payload_len, &ac), 0);
	assert_string_equal(ac.resource_id, "r-db");
	assert_string_equal(ac.gateway_id, "gw1");
	memset(gw_key, G_1, NT_KEY_LEN);
	assert_memory_equal(ac.gateway_public_key, gw_key, NT_KEY_LEN);
	assert_string_equal(ac.gateway_endpoint, "192.0.2.11:51820");
	assert_memory_equal(ac.gateway_ipv4, gifc.ipv4, 4);
	assert_memory_equal(ac.gateway_ipv6, gifc.ipv6, 16);
	assert_memory_equal(ac.preshared_key, g.client.preshared_key, NT_KEY_LEN);
	assert_string_equal(ac.site_id, "s-office");
	assert_int_equal(ac.expires_at, T0_UNIX + TTL);
	/* A second ack of the same ref is stale. */
	ack(G_1, g.ref, 0);

	/* The pair keeps its key: a renewal carries the same one. */
	clear();
	request(C_ALICE, "r-db", "gw1");
	{
		struct nt_pmsg_grant g2;

		created(G_1, &g2);
		assert_memory_equal(g2.client.preshared_key, g.client.preshared_key, NT_KEY_LEN);
		assert_string_not_equal(g2.ref, g.ref);
	}
}

static void test_gateway_choice(void **state)
{
	struct nt_pmsg_grant g;

	(void)state;
	join(G_1, NT_PORTAL_GATEWAY, "gw1");
	join(G_2, NT_PORTAL_GATEWAY, "gw2");
	join(C_ALICE, NT_PORTAL_CLIENT, "alice");
	join(C_BOB, NT_PORTAL_CLIENT, "bob");
	clear();
	/* A tie: the first in configuration order. */
	request(C_BOB, "r-web", NULL);
	created(G_1, &g);
	assert_int_equal(count(G_2, "create_authorization", NULL), 0);
	/* gw1 serves bob now: alice goes to gw2. */
	clear();
	request(C_ALICE, "r-db", NULL);
	created(G_2, &g);
	ack(G_2, g.ref, 1);
	/* connected_gateway_ids wins over the load. */
	clear();
	nt_portal_on_close(portal, C_BOB, now);
	request(C_ALICE, "r-db", "gw1");
	created(G_1, &g);
}

static void test_timeout_then_late_ack(void **state)
{
	struct nt_pmsg_grant g;
	struct nt_portal_state st;

	(void)state;
	join(G_1, NT_PORTAL_GATEWAY, "gw1");
	join(C_ALICE, NT_PORTAL_CLIENT, "alice");
	clear();
	request(C_ALICE, "r-db", NULL);
	created(G_1, &g);
	assert_int_equal(timer_delay, NT_PORTAL_ACK_TIMEOUT_MS);
	now.mono_ms += NT_PORTAL_ACK_TIMEOUT_MS - 1;
	nt_portal_on_timer(portal, now);
	assert_int_equal(count(C_ALICE, "authorization_creation_failed", NULL), 0);
	now.mono_ms += 1;
	nt_portal_on_timer(portal, now);
	failed_reason(C_ALICE, "r-db", NT_PMSG_OFFLINE);
	clear();
	ack(G_1, g.ref, 0);
	assert_int_equal(count(C_ALICE, "authorization_created", NULL), 0);
	assert_int_equal(nt_portal_export(portal, &st), 0);
	assert_int_equal(st.n_grants, 0);
	nt_portal_state_free(&st);
	assert_int_equal(nt_portal_stats(portal)->acks_late, 1);
}

static void grant_alice_db(struct nt_pmsg_grant *g)
{
	join(G_1, NT_PORTAL_GATEWAY, "gw1");
	join(C_ALICE, NT_PORTAL_CLIENT, "alice");
	request(C_ALICE, "r-db", NULL);
	created(G_1, g);
	ack(G_1, g->ref, 1);
	clear();
}

static void test_expiry(void **state)
{
	struct nt_pmsg_grant g;
	struct nt_portal_state st;

	(void)state;
	grant_alice_db(&g);
	assert_int_equal(timer_delay, (int64_t)TTL * 1000);
	now.unix_s += TTL - 1;
	now.mono_ms += (TTL - 1) * 1000;
	nt_portal_on_timer(portal, now);
	assert_int_equal(nt_portal_export(portal, &st), 0);
	assert_int_equal(st.n_grants, 1);
	nt_portal_state_free(&st);
	assert_int_equal(timer_delay, 1000);
	now.unix_s += 1;
	now.mono_ms += 1000;
	timer_delay = -2;
	nt_portal_on_timer(portal, now);
	assert_int_equal(nt_portal_export(portal, &st), 0);
	assert_int_equal(st.n_grants, 0);
	nt_portal_state_free(&st);
	assert_int_equal(timer_delay, -2); /* the timer fired: nothing left to arm */
	/* The gateway ends the grant itself: nothing is pushed. */
	assert_int_equal(n_outs, 0);
	/* A reconnecting gateway's init no longer lists it. */
	nt_portal_on_close(portal, G_1, now);
	join(G_1, NT_PORTAL_GATEWAY, "gw1");
	{
		struct nt_pmsg_iface ifc;
		size_t n;

		gateway_iface(G_1, &ifc, &n);
		assert_int_equal(n, 0);
	}
}

static void test_gateway_disconnect_fails_pending(void **state)
{
	struct nt_pmsg_grant g;

	(void)state;
	join(G_1, NT_PORTAL_GATEWAY, "gw1");
	join(C_ALICE, NT_PORTAL_CLIENT, "alice");
	request(C_ALICE, "r-db", NULL);
	created(G_1, &g);
	clear();
	nt_portal_on_close(portal, G_1, now);
	failed_reason(C_ALICE, "r-db", NT_PMSG_OFFLINE);
	assert_int_equal(timer_delay, -1);
}

static void reload(void)
{
	char err[256];

	assert_int_equal(nt_portal_reload(portal, &model, now, err, sizeof(err)), 0);
}

static void test_reload_removed_policy(void **state)
{
	struct nt_pmsg_grant g;
	struct nt_pmsg_reject_access ra;
	struct nt_pmsg_resource r;
	struct nt_phx_frame f;
	char rid[NT_PMSG_ID_MAX + 1];

	(void)state;
	grant_alice_db(&g);
	res[0].n_allow = 0; /* nobody may use r-db */
	add_resource(3, "r-new", "10.50.0.0/16", "s-office", "alice");
	reload();
	assert_int_equal(count(G_1, "reject_access", &f), 1);
	assert_int_equal(nt_pmsg_reject_access_decode(f.payload, f.payload_len, &ra), 0);
	assert_string_equal(ra.client_id, "alice");
	assert_string_equal(ra.resource_id, "r-db");
	assert_int_equal(count(C_ALICE, "authorization_revoked", &f), 1);
	assert_int_equal(nt_pmsg_auth_revoked_decode(f.payload, f.payload_len, rid), 0);
	assert_string_equal(rid, "r-db");
	assert_int_equal(count(C_ALICE, "resource_deleted", &f), 1);
	assert_int_equal(nt_pmsg_resource_deleted_decode(f.payload, f.payload_len, rid), 0);
	assert_string_equal(rid, "r-db");
	assert_int_equal(count(C_ALICE, "resource_created_or_updated", &f), 1);
	assert_int_equal(nt_pmsg_resource_decode(f.payload, f.payload_len, &r), 0);
	assert_string_equal(r.id, "r-new");
	assert_int_equal(count(G_1, "resource_updated", NULL), 0);
	/* The grant is gone from the state: a late request is forbidden. */
	clear();
	request(C_ALICE, "r-db", NULL);
	failed_reason(C_ALICE, "r-db", NT_PMSG_FORBIDDEN);
	/* An unchanged reload pushes nothing. */
	clear();
	reload();
	assert_int_equal(n_outs, 0);
}

static void test_reload_changed_resource(void **state)
{
	struct nt_pmsg_grant g;
	struct nt_pmsg_resource r;
	struct nt_phx_frame f;

	(void)state;
	grant_alice_db(&g);
	join(C_BOB, NT_PORTAL_CLIENT, "bob");
	clear();
	res[0].res.filters[0].port_end = 5433;
	reload();
	assert_int_equal(count(G_1, "resource_updated", &f), 1);
	assert_int_equal(nt_pmsg_resource_decode(f.payload, f.payload_len, &r), 0);
	assert_int_equal(r.filters[0].port_end, 5433);
	assert_int_equal(count(C_ALICE, "resource_created_or_updated", NULL), 1);
	assert_int_equal(count(G_1, "reject_access", NULL), 0);
	assert_int_equal(count(C_ALICE, "authorization_revoked", NULL), 0);
	assert_int_equal(count(C_BOB, "resource_created_or_updated", NULL), 0);
}

static void test_token_revoked(void **state)
{
	struct nt_phx_frame f;
	char reason[NT_PMSG_REASON_MAX + 1];

	(void)state;
	join(C_ALICE, NT_PORTAL_CLIENT, "alice");
	join(C_BOB, NT_PORTAL_CLIENT, "bob");
	join(G_1, NT_PORTAL_GATEWAY, "gw1");
	clear();
	cls[0].token_hash[0] ^= 1; /* alice's token replaced */
	model.n_gateways = 2;	   /* gw-lab removed (not connected) */
	gws[0].token_hash[5] ^= 1; /* gw1's token replaced */
	reload();
	assert_int_equal(count(C_ALICE, "disconnect", &f), 1);
	assert_int_equal(nt_pmsg_disconnect_decode(f.payload, f.payload_len, reason), 0);
	assert_string_equal(reason, "token_revoked");
	assert_int_equal(count(G_1, "disconnect", NULL), 1);
	assert_int_equal(n_closed, 2);
	assert_int_equal(closed_status[0], 1008);
	assert_int_equal(count(C_BOB, "disconnect", NULL), 0);
	/* Closed for the portal: frames from it are ignored. */
	clear();
	frame_in(C_ALICE, NT_PHX_TOPIC_PHOENIX, NT_PHX_EV_HEARTBEAT, "{}");
	assert_int_equal(n_outs, 0);
	assert_int_equal(nt_portal_stats(portal)->token_revoked, 2);
}

static void test_reload_refused_keeps_running(void **state)
{
	struct nt_pmsg_resource arr[8];
	struct nt_pmsg_client_init before, after;
	struct nt_portal_addr_rec addr = {.role = NT_PORTAL_CLIENT, .name = "alice", .index = 42};
	struct nt_portal_state st = {.addrs = &addr, .n_addrs = 1};
	char err[256] = "";

	(void)state;
	/* alice's address from an earlier run, not what a fresh start gives. */
	nt_portal_destroy(portal);
	assert_int_equal(nt_portal_create(&portal, &model, &st, &ops, now, err, sizeof(err)), 0);
	join(G_1, NT_PORTAL_GATEWAY, "gw1");
	join(C_ALICE, NT_PORTAL_CLIENT, "alice");
	client_init_of(C_ALICE, &before, arr, 8);
	assert_int_equal(before.iface.ipv4[3], 42);
	clear();
	/* A resource of an unknown site: refused, nothing pushed. */
	strcpy(res[0].res.sites[0].id, "s-mars");
	res[0].n_allow = 0;
	assert_int_equal(nt_portal_reload(portal, &model, now, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "resource r-db: unknown site s-mars");
	build_model();
	/* Six identities do not fit a /30 (two addresses): refused, and the
	 * running addresses stay as they were. */
	assert_int_equal(wg_allowedips_parse_cidr("10.0.0.0/30", &model.pool4), 0);
	cls[0].n_groups = 0;
	assert_true(nt_portal_reload(portal, &model, now, err, sizeof(err)) < 0);
	assert_int_equal(n_outs, 0);
	nt_portal_on_close(portal, C_ALICE, now);
	join(C_ALICE, NT_PORTAL_CLIENT, "alice");
	client_init_of(C_ALICE, &after, arr, 8);
	assert_int_equal(after.n, 2);
	assert_memory_equal(after.iface.ipv4, before.iface.ipv4, 4);
}

/* ---- the state file ---- */

static char dir[64];

static int setup_dir(void **state)
{
	strcpy(dir, "/tmp/test_portal.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return setup(state);
}

static int teardown_dir(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return teardown(state);
}

static size_t dir_entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void test_state_round_trip(void **state)
{
	struct nt_pmsg_grant g, g2[2];
	struct nt_portal_state st, back;
	struct nt_pmsg_gateway_init gi = {.authorizations = g2, .cap = 2};
	struct nt_phx_frame f;
	struct stat sb;
	char path[128], err[256];

	(void)state;
	grant_alice_db(&g);
	assert_true(nt_portal_take_dirty(portal));
	assert_false(nt_portal_take_dirty(portal));
	assert_int_equal(nt_portal_export(portal, &st), 0);
	snprintf(path, sizeof(path), "%s/portal.state", dir);
	assert_int_equal(nt_portal_state_write(path, &st), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(nt_portal_state_read(path, now.unix_s, &back, err, sizeof(err)), 0);
	assert_int_equal(back.n_addrs, st.n_addrs);
	assert_int_equal(back.n_psks, 1);
	assert_memory_equal(back.psks[0].psk, g.client.preshared_key, NT_KEY_LEN);
	assert_int_equal(back.n_grants, 1);
	assert_string_equal(back.grants[0].resource, "r-db");
	assert_int_equal(back.grants[0].expires_at, T0_UNIX + TTL);
	nt_portal_state_free(&st);

	/* A restarted portal: the gateway's init holds the grant again. */
	nt_portal_destroy(portal);
	clear();
	now.mono_ms = 5; /* a new boot */
	now.unix_s += 60;
	assert_int_equal(nt_portal_create(&portal, &model, &back, &ops, now, err, sizeof(err)), 0);
	nt_portal_state_free(&back);
	assert_int_equal(timer_delay, (int64_t)(TTL - 60) * 1000);
	join(G_1, NT_PORTAL_GATEWAY, "gw1");
	assert_int_equal(count(G_1, "init", &f), 1);
	assert_int_equal(nt_pmsg_gateway_init_decode(f.payload, f.payload_len, &gi), 0);
	assert_int_equal(gi.n, 1);
	assert_string_equal(g2[0].resource.id, "r-db");
	assert_string_equal(g2[0].client.id, "alice");
	assert_memory_equal(g2[0].client.preshared_key, g.client.preshared_key, NT_KEY_LEN);
	assert_memory_equal(g2[0].client.public_key, g.client.public_key, NT_KEY_LEN);
	assert_memory_equal(g2[0].client.ipv4, g.client.ipv4, 4);
	assert_int_equal(g2[0].expires_at, T0_UNIX + TTL);
}

static void test_state_atomic_replace(void **state)
{
	struct nt_portal_state empty = {0}, st, back;
	char path[128], blocker[160], err[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/portal.state", dir);
	assert_int_equal(nt_portal_state_write(path, &empty), 0);
	grant_alice_db(&(struct nt_pmsg_grant){0});
	assert_int_equal(nt_portal_export(portal, &st), 0);
	/* The replacement cannot be written: the old file stays whole. */
	snprintf(blocker, sizeof(blocker), "%s.tmp.%ld", path, (long)getpid());
	assert_int_equal(mkdir(blocker, 0700), 0);
	assert_true(nt_portal_state_write(path, &st) < 0);
	assert_int_equal(nt_portal_state_read(path, now.unix_s, &back, err, sizeof(err)), 0);
	assert_int_equal(back.n_grants, 0);
	nt_portal_state_free(&back);
	assert_int_equal(rmdir(blocker), 0);
	/* Replaced: the new content, no temporary left beside it. */
	assert_int_equal(nt_portal_state_write(path, &st), 0);
	assert_int_equal(dir_entries(), 1);
	assert_int_equal(nt_portal_state_read(path, now.unix_s, &back, err, sizeof(err)), 0);
	assert_int_equal(back.n_grants, 1);
	nt_portal_state_free(&back);
	nt_portal_state_free(&st);
}

#define KEY "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="

static void test_state_expired_dropped(void **state)
{
	static const char text[] = "notun-portal-state 1\n"
				   "addr client alice 3\n"
				   "grant alice gw1 r-db 1767225600 " KEY "\n"
				   "grant alice gw1 r-lab 1767225601 " KEY "\n";
	struct nt_portal_state st;
	char err[128];

	(void)state;
	assert_int_equal(
	    nt_portal_state_parse(text, strlen(text), 1767225600, &st, err, sizeof(err)), 0);
	assert_int_equal(st.n_addrs, 1);
	assert_int_equal(st.addrs[0].index, 3);
	assert_int_equal(st.n_grants, 1);
	assert_string_equal(st.grants[0].resource, "r-lab");
	nt_portal_state_free(&st);
}

static void test_state_malformed(void **state)
{
	static const struct {
		const char *text;
		const char *err;
	} cases[] = {
	    {"", "1: empty file"},
	    {"notun-portal-state 2\n", "1: not a notun portal state file of version 1"},
	    {"notun-portal-state 1\naddr client alice 3", "2: no newline at the end (a cut file)"},
	    {"notun-portal-state 1\naddr client alice 3\naddr robot x 1\n",
	     "3: expected: addr client|gateway NAME INDEX"},
	    {"notun-portal-state 1\naddr client alice 03\n",
	     "2: expected: addr client|gateway NAME INDEX"},
	    {"notun-portal-state 1\npsk alice gw1 notakey\n",
	     "2: expected: psk CLIENT GATEWAY KEY"},
	    {"notun-portal-state 1\ngrant alice gw1 r-db -5 " KEY "\n",
	     "2: expected: grant CLIENT GATEWAY RESOURCE EXPIRES_AT CLIENT_KEY"},
	    {"notun-portal-state 1\n\n", "2: malformed line"},
	    {"notun-portal-state 1\nhello\n", "2: unknown record"},
	};
	struct nt_portal_state st;
	char err[256], path[64], full[256];
	FILE *fp;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(nt_portal_state_parse(cases[i].text, strlen(cases[i].text), 0, &st,
						       err, sizeof(err)),
				 -EINVAL);
		assert_string_equal(err, cases[i].err);
		assert_null(st.grants);
	}
	/* From a file: the error names file:line. */
	snprintf(path, sizeof(path), "%.40s/bad.state", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(cases[3].text, fp);
	fclose(fp);
	assert_int_equal(nt_portal_state_read(path, 0, &st, full, sizeof(full)), -EINVAL);
	snprintf(err, sizeof(err), "%s:3: expected", path);
	assert_memory_equal(full, err, strlen(err));
	snprintf(path, sizeof(path), "%.40s/missing.state", dir);
	assert_int_equal(nt_portal_state_read(path, 0, &st, full, sizeof(full)), -ENOENT);
}

/* ---- logs ---- */

static void test_logs_name_ids_never_keys(void **state)
{
	struct nt_pmsg_grant g;
	char path[128], text[16384], psk[NT_KEY_B64_LEN + 1];
	FILE *fp;
	size_t n;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/log", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	nt_log_set_level(NT_LOG_TRACE);
	nt_log_set_fd(fd);
	grant_alice_db(&g);
	nt_log_set_fd(-1);
	nt_log_set_level(NT_LOG_INFO);
	close(fd);
	fp = fopen(path, "r");
	assert_non_null(fp);
	n = fread(text, 1, sizeof(text) - 1, fp);
	fclose(fp);
	text[n] = '\0';
	assert_non_null(strstr(text, "event=create_authorization cid=alice rid=r-db gid=gw1"));
	assert_non_null(strstr(text, "event=authorization_created cid=alice rid=r-db gid=gw1"));
	nt_key_to_base64(psk, g.client.preshared_key);
	assert_null(strstr(text, psk));
	assert_null(strstr(text, g.ref));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_join_heartbeat_and_replies, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_init_contents, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failures_at_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rejoin_grace_after_start, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_double_request_one_create_then_ack, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_gateway_choice, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout_then_late_ack, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gateway_disconnect_fails_pending, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reload_removed_policy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reload_changed_resource, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_token_revoked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reload_refused_keeps_running, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_round_trip, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_state_atomic_replace, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_state_expired_dropped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_malformed, setup_dir, teardown_dir),
	    cmocka_unit_test_setup_teardown(test_logs_name_ids_never_keys, setup_dir, teardown_dir),
	};

	if (nt_platform_init())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
