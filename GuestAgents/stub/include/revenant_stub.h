// The guest stub's bytes, for the VMM to copy into the guest (see stub.S).
#ifndef REVENANT_STUB_H
#define REVENANT_STUB_H
/// The stub's machine code; *length receives its size. Offset 0 is the syscall entry (LSTAR).
const unsigned char *revenant_stub_bytes(unsigned long *length);
/// Offset of the entry for exception vector 0..31 (for the IDT).
unsigned long revenant_stub_vector_offset(unsigned vector);
/// Offsets within the MMIO window page: what the exit's address means.
enum { REVENANT_MMIO_SYSCALL = 0, REVENANT_MMIO_EXCEPTION = 8 };
#endif
