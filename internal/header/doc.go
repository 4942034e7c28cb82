// Package header reads and writes the IPv4 headers and ICMP errors that the
// encap and decap packages share.
//
// An IPv4 value is a view over bytes the caller owns: nothing here copies or
// allocates. Accessors assume the bytes passed IsValid; call it once at the
// edge, then read fields freely, as gVisor's header package does.
package header
