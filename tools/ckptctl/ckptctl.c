// SPDX-License-Identifier: GPL-2.0
/* ckptctl: placeholder entry point until the CLI lands. */
#include <stdio.h>

int main(void)
{
	fprintf(stderr, "ckptctl: not built yet\n");
	return 1;
}
