#include "revenant_stub.h"

extern const unsigned char revenant_stub_start[];
extern const unsigned char revenant_stub_end[];
extern const unsigned char revenant_stub_vectors[];
extern const unsigned char revenant_stub_syscall_exit[];
extern const unsigned char revenant_stub_syscall_mailbox[];
extern const unsigned char revenant_stub_syscall_fast[];

const unsigned char *revenant_stub_bytes(unsigned long *length)
{
    *length = (unsigned long)(revenant_stub_end - revenant_stub_start);
    return revenant_stub_start;
}

unsigned long revenant_stub_vector_offset(unsigned vector)
{
    return (unsigned long)(revenant_stub_vectors - revenant_stub_start) + 16ul * vector;
}

unsigned long revenant_stub_syscall_exit_offset(void)
{
    return (unsigned long)(revenant_stub_syscall_exit - revenant_stub_start);
}

unsigned long revenant_stub_syscall_mailbox_offset(void)
{
    return (unsigned long)(revenant_stub_syscall_mailbox - revenant_stub_start);
}

unsigned long revenant_stub_syscall_fast_offset(void)
{
    return (unsigned long)(revenant_stub_syscall_fast - revenant_stub_start);
}
