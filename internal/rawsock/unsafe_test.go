package rawsock

import "unsafe"

// unsafePointer returns a pointer to b's first byte for laying structs over
// test buffers.
func unsafePointer(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }
