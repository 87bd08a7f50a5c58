/* SPDX-License-Identifier: MIT */
/* Inside the flow layer: what flow.c (the layer, TCP flows, ICMP errors),
 * flow_udp.c (UDP sockets) and gw_accept.c (the gateway's side of lwIP)
 * share. Nothing outside netstack/ includes this. */
#ifndef NT_NETSTACK_FLOW_INT_H
#define NT_NETSTACK_FLOW_INT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "netstack/flow.h"

#include "lwip/err.h"
#include "lwip/ip_addr.h"

struct pbuf;

/* ---- lists: a node is linked exactly while next != NULL ---- */

struct link {
	struct link *next, *prev;
};

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static inline void list_init(struct link *l)
{
	l->next = l->prev = l;
}

static inline bool list_empty(const struct link *l)
{
	return l->next == l;
}

static inline bool linked(const struct link *n)
{
	return n->next != NULL;
}

static inline void list_add_tail(struct link *head, struct link *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

static inline void list_del(struct link *n)
{
	if (!linked(n))
		return;
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = NULL;
}

/* ---- addresses: 4 bytes for AF_INET, 16 for AF_INET6, network order ---- */

static inline void nt_flow_addr_to_ip(int family, const uint8_t *addr, ip_addr_t *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (family == AF_INET) {
		IP_SET_TYPE_VAL(*ip, IPADDR_TYPE_V4);
		memcpy(&ip_2_ip4(ip)->addr, addr, 4);
	} else {
		IP_SET_TYPE_VAL(*ip, IPADDR_TYPE_V6);
		memcpy(ip_2_ip6(ip)->addr, addr, 16);
		ip6_addr_clear_zone(ip_2_ip6(ip));
	}
}

/* Returns the family and writes 4 or 16 bytes. */
static inline int nt_flow_ip_to_addr(const ip_addr_t *ip, uint8_t *addr)
{
	if (IP_IS_V6(ip)) {
		memcpy(addr, ip_2_ip6(ip)->addr, 16);
		return AF_INET6;
	}
	memcpy(addr, &ip_2_ip4(ip)->addr, 4);
	return AF_INET;
}

/* What a failed tcp_connect, udp_bind or udp_sendto means to our callers. */
static inline int nt_flow_lwip_errno(err_t err)
{
	switch (err) {
	case ERR_MEM:
		return -ENOMEM;
	case ERR_RTE:
		return -ENETUNREACH;
	case ERR_BUF:
	case ERR_USE:
		return -EADDRNOTAVAIL;
	default:
		return -EINVAL;
	}
}

/* ---- flow_udp.c, for the layer (flow.c) ---- */

/* From nt_flow_init: 0 or -ENOMEM. UDP sockets open from here on. */
int nt_flow_udp_layer_init(void);
/* From nt_flow_fini: returns how many sockets their owners still hold
 * (left to the stack's shutdown). */
size_t nt_flow_udp_layer_fini(void);
/* A parsed ICMP error quoting a UDP datagram: 1 when it was one of our
 * sockets' (its error callback ran, if it has one), else 0. */
int nt_flow_udp_icmp_error(const struct nt_icmp_err *e);
/* Fills the udp_* counters and adds the sockets' memory to mem_total. */
void nt_flow_udp_layer_stats(struct nt_flow_stats *out);

/* ---- flow_udp.c, for gw_accept.c too: datagrams in pbufs ---- */

/* A datagram's payload (len bytes) in a new pbuf with room for the headers
 * below it. Returns 0, -EMSGSIZE (over the family's limit) or -ENOMEM. */
int nt_flow_udp_pbuf(int family, const uint8_t *buf, size_t len, struct pbuf **out);
/* A received datagram in one piece: p's own bytes, or a chain copied into
 * the layer's 64 KiB buffer (valid until the next call). */
const uint8_t *nt_flow_udp_flat(const struct pbuf *p);

#endif
