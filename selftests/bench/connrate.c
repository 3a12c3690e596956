// SPDX-License-Identifier: GPL-2.0
/*
 * connrate: new TCP connections per second, in one process (under TCG a
 * process start costs far more than a connection).
 *
 *   connrate serve ADDR PORT [PORT...]
 *       Listen on every PORT; accept, read until EOF, close; forever.
 *   connrate connect ADDR PORT SECONDS [INTERVAL_MS [MAX]]
 *       Open and close connections one after the other (connect(), then
 *       close(): the whole handshake and teardown cross the router) for
 *       SECONDS, or MAX connections, sleeping INTERVAL_MS between two.
 *       Prints JSON: conns, errors, seconds, per_s.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#define MAX_PORTS	64

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int serve(const char *addr, int nports, char **ports)
{
	struct pollfd pfd[MAX_PORTS];
	int i, one = 1;

	if (nports > MAX_PORTS)
		nports = MAX_PORTS;
	for (i = 0; i < nports; i++) {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		sin.sin_port = htons(atoi(ports[i]));
		if (fd < 0 || inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
			perror("connrate: socket");
			return 1;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
		    listen(fd, 4096) < 0) {
			perror("connrate: bind/listen");
			return 1;
		}
		pfd[i].fd = fd;
		pfd[i].events = POLLIN;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		if (poll(pfd, nports, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		for (i = 0; i < nports; i++) {
			char buf[256];
			int c;

			if (!(pfd[i].revents & POLLIN))
				continue;
			c = accept(pfd[i].fd, NULL, NULL);
			if (c < 0)
				continue;
			while (read(c, buf, sizeof(buf)) > 0)
				;
			close(c);
		}
	}
}

static int connect_loop(const char *addr, int port, double seconds,
			double interval_ms, long max)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	long conns = 0, errors = 0;
	double t0, t;

	sin.sin_port = htons(port);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
		fprintf(stderr, "connrate: bad address %s\n", addr);
		return 2;
	}
	t0 = now_s();
	do {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0) {
			perror("connrate: socket");
			return 1;
		}
		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
			conns++;
		else
			errors++;
		close(fd);
		if (interval_ms > 0) {
			struct timespec ts = {
				.tv_sec = (time_t)(interval_ms / 1000),
				.tv_nsec = (long)((interval_ms - 1000 *
					   (long)(interval_ms / 1000)) * 1e6),
			};

			nanosleep(&ts, NULL);
		}
		t = now_s() - t0;
	} while (t < seconds && (max <= 0 || conns + errors < max));
	printf("{\"conns\": %ld, \"errors\": %ld, \"seconds\": %.6f, \"per_s\": %.1f}\n",
	       conns, errors, t, t > 0 ? conns / t : 0.0);
	return errors ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "serve"))
		return serve(argv[2], argc - 3, argv + 3);
	if (argc >= 5 && !strcmp(argv[1], "connect"))
		return connect_loop(argv[2], atoi(argv[3]), atof(argv[4]),
				    argc > 5 ? atof(argv[5]) : 0,
				    argc > 6 ? atol(argv[6]) : 0);
	fprintf(stderr, "usage: connrate serve ADDR PORT...\n"
		"       connrate connect ADDR PORT SECONDS [INTERVAL_MS [MAX]]\n");
	return 2;
}
