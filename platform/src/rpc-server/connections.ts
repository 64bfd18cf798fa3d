import type { Http2SecureServer, Http2Server, Http2Session } from "node:http2";
import type { Socket } from "node:net";

/**
 * Tracks what a server must close on shutdown: HTTP/2 sessions (closing the listener alone never
 * ends them, so shutdown would hang), raw sockets (HTTP/1.1 over TLS, half-open handshakes) and
 * the calls in flight, whose end the graceful drain waits for.
 */
export class ConnectionTracker {
  readonly #sessions = new Set<Http2Session>();
  readonly #sockets = new Set<Socket>();
  readonly #http1Sockets = new Set<Socket>();
  readonly #idleWaiters = new Set<() => void>();
  readonly #closedWaiters = new Set<() => void>();
  #inFlight = 0;

  constructor(server: Http2Server | Http2SecureServer) {
    server.on("session", (session: Http2Session) => {
      this.#sessions.add(session);
      session.once("close", () => {
        this.#sessions.delete(session);
        this.#checkClosed();
      });
    });
    server.on("connection", (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once("close", () => {
        this.#sockets.delete(socket);
        this.#checkClosed();
      });
    });
  }

  /** Number of calls being served (health probes excluded). */
  inFlight(): number {
    return this.#inFlight;
  }

  /** Counts one call until `done` is called (idempotent). */
  begin(): () => void {
    this.#inFlight++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#inFlight--;
      if (this.#inFlight === 0) for (const w of [...this.#idleWaiters]) w();
    };
  }

  /** Resolves when no call is in flight. */
  idle(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#idleWaiters.delete(done);
        resolve();
      };
      this.#idleWaiters.add(done);
    });
  }

  /** Sends GOAWAY on every session: open streams finish, new ones are refused, then it closes. */
  closeSessions(): void {
    for (const session of this.#sessions) if (!session.closed) session.close();
  }

  /** Resolves when every session and socket is gone. */
  allClosed(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#closedWaiters.delete(done);
        resolve();
      };
      this.#closedWaiters.add(done);
      this.#checkClosed();
    });
  }

  /** Tears down every session and socket at once, cancelling whatever is still running. */
  destroyAll(): void {
    for (const session of this.#sessions) session.destroy();
    for (const socket of this.#sockets) socket.destroy();
  }

  /** Notes a socket that carries HTTP/1.1 (gRPC-Web or Connect over TLS without HTTP/2). */
  markHttp1(socket: Socket): void {
    if (this.#http1Sockets.has(socket)) return;
    this.#http1Sockets.add(socket);
    socket.once("close", () => this.#http1Sockets.delete(socket));
  }

  /** Destroys HTTP/1.1 sockets: once nothing is in flight they are idle keep-alive connections. */
  destroyHttp1Sockets(): void {
    for (const socket of this.#http1Sockets) socket.destroy();
  }

  #checkClosed(): void {
    if (this.#sessions.size > 0 || this.#sockets.size > 0) return;
    for (const w of [...this.#closedWaiters]) w();
  }
}
