// MLLP (HL7 v2 Minimal Lower Layer Protocol) over TCP: frames are 0x0B <message> 0x1C 0x0D. The framer copes
// with several messages in one chunk, one message split across many chunks (slow senders, byte by byte),
// bytes outside a frame (ignored and counted), a frame broken by a new start block (dropped, no ACK: the
// sender times out and resends), and oversize messages (answered at once by the handler's reject, the rest of
// the frame skipped). The server answers one ACK per message, in the order the messages arrived, even though
// the messages are handled concurrently (so concurrent messages share one database commit).
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../platform/logger.ts';

export const VT = 0x0b;
export const FS = 0x1c;
export const CR = 0x0d;

export type FrameEvent =
  | { type: 'message'; data: Buffer }
  | { type: 'oversize'; head: Buffer; limit: number }
  | { type: 'broken'; bytes: number }
  | { type: 'garbage'; bytes: number };

const OUT = 0, IN = 1, SKIP = 2;

/** Incremental MLLP deframer for one connection. */
export class MllpFramer {
  #state = OUT;
  #parts: Buffer[] = [];
  #size = 0;
  /** the previous chunk ended with 0x1C: the frame ends if this one starts with 0x0D */
  #pendingFs = false;

  constructor(readonly maxBytes: number) {}

  get inFrame(): boolean {
    return this.#state !== OUT;
  }

  push(chunk: Buffer, out: FrameEvent[] = []): FrameEvent[] {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.#state === OUT) {
        const start = chunk.indexOf(VT, i);
        const end = start === -1 ? n : start;
        let junk = 0;
        for (let k = i; k < end; k++) { const b = chunk[k]!; if (b !== CR && b !== 0x0a && b !== 0x20 && b !== 0x09) junk++; }
        if (junk) out.push({ type: 'garbage', bytes: junk });
        if (start === -1) return out;
        this.#begin();
        i = start + 1;
        continue;
      }
      if (this.#pendingFs) {
        this.#pendingFs = false;
        if (chunk[i] === CR) {
          this.#end(out);
          i++;
          continue;
        }
        this.#append(Buffer.of(FS), out); // a lone 0x1C inside the message (invalid, kept as data)
      }
      const fs = chunk.indexOf(FS, i);
      const vt = chunk.indexOf(VT, i);
      if (vt !== -1 && (fs === -1 || vt < fs)) {
        // a new start block inside a frame: the frame in hand is broken
        out.push({ type: 'broken', bytes: this.#size + (vt - i) });
        this.#state = OUT;
        this.#parts = [];
        this.#size = 0;
        i = vt;
        continue;
      }
      if (fs === -1) {
        this.#append(chunk.subarray(i), out);
        return out;
      }
      this.#append(chunk.subarray(i, fs), out);
      i = fs + 1;
      if (i >= n) {
        this.#pendingFs = true;
        return out;
      }
      if (chunk[i] === CR) {
        this.#end(out);
        i++;
      } else {
        this.#append(Buffer.of(FS), out);
      }
    }
    return out;
  }

  #begin(): void {
    this.#state = IN;
    this.#parts = [];
    this.#size = 0;
    this.#pendingFs = false;
  }

  #append(b: Buffer, out: FrameEvent[]): void {
    if (b.length === 0) return;
    this.#size += b.length;
    if (this.#state === SKIP) return;
    // copy: the socket may reuse its buffers
    this.#parts.push(Buffer.from(b));
    if (this.#size > this.maxBytes) {
      out.push({ type: 'oversize', head: Buffer.concat(this.#parts).subarray(0, 4096), limit: this.maxBytes });
      this.#parts = [];
      this.#state = SKIP;
    }
  }

  #end(out: FrameEvent[]): void {
    if (this.#state === IN) out.push({ type: 'message', data: this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts) });
    this.#state = OUT;
    this.#parts = [];
    this.#size = 0;
  }
}

export function frame(text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  const b = Buffer.allocUnsafe(body.length + 3);
  b[0] = VT;
  body.copy(b, 1);
  b[body.length + 1] = FS;
  b[body.length + 2] = CR;
  return b;
}

export interface MllpPeer {
  address: string | undefined;
  port: number | undefined;
}

export interface MllpHandler {
  /** a complete message → the ACK text to send back */
  message(text: string, peer: MllpPeer): Promise<string>;
  /** an oversize message (only its beginning is given) → the reject ACK */
  oversize(head: string, limit: number, peer: MllpPeer): string;
}

export interface MllpServerOptions {
  host: string;
  port: number;
  maxMessageBytes: number;
  idleTimeoutMs: number;
  maxConnections: number;
  /** messages in flight per connection before the socket is paused */
  maxInFlight?: number;
  handler: MllpHandler;
  logger: Logger;
}

export interface MllpServer {
  port: number;
  host: string;
  stats: { connections: number; messages: number; broken: number; garbageBytes: number; oversize: number; idleClosed: number };
  close(): Promise<void>;
}

export async function startMllpServer(opts: MllpServerOptions): Promise<MllpServer> {
  const { handler, logger } = opts;
  const maxInFlight = opts.maxInFlight ?? 256;
  const stats = { connections: 0, messages: 0, broken: 0, garbageBytes: 0, oversize: 0, idleClosed: 0 };
  const sockets = new Set<Socket>();

  const onConnection = (socket: Socket) => {
    stats.connections++;
    sockets.add(socket);
    const peer: MllpPeer = { address: socket.remoteAddress, port: socket.remotePort };
    const framer = new MllpFramer(opts.maxMessageBytes);
    let tail: Promise<void> = Promise.resolve();
    let inFlight = 0;
    let paused = false;
    socket.setNoDelay(true);
    socket.setTimeout(opts.idleTimeoutMs);
    socket.on('timeout', () => {
      stats.idleClosed++;
      logger.info({ peer }, 'mllp: idle connection closed');
      socket.destroy();
    });
    socket.on('error', (err) => logger.debug({ err, peer }, 'mllp: socket error'));
    socket.on('close', () => sockets.delete(socket));
    const send = (ack: string) => {
      if (!socket.destroyed) socket.write(frame(ack));
    };
    const enqueue = (work: Promise<string>) => {
      inFlight++;
      if (inFlight >= maxInFlight && !paused) {
        paused = true;
        socket.pause();
      }
      tail = tail.then(async () => {
        let ack: string;
        try {
          ack = await work;
        } catch (err) {
          logger.error({ err, peer }, 'mllp: handler failed');
          return;
        }
        send(ack);
      }).finally(() => {
        inFlight--;
        if (paused && inFlight < maxInFlight / 2) {
          paused = false;
          socket.resume();
        }
      });
    };
    socket.on('data', (chunk: Buffer) => {
      for (const ev of framer.push(chunk)) {
        if (ev.type === 'message') {
          stats.messages++;
          enqueue(handler.message(ev.data.toString('utf8'), peer));
        } else if (ev.type === 'oversize') {
          stats.oversize++;
          logger.warn({ peer, limit: ev.limit }, 'mllp: message over the size limit rejected');
          enqueue(Promise.resolve(handler.oversize(ev.head.toString('utf8'), ev.limit, peer)));
        } else if (ev.type === 'broken') {
          stats.broken++;
          logger.warn({ peer, bytes: ev.bytes }, 'mllp: broken frame (new start block before the end block) dropped');
        } else {
          stats.garbageBytes += ev.bytes;
          logger.debug({ peer, bytes: ev.bytes }, 'mllp: bytes outside a frame ignored');
        }
      }
    });
    socket.on('end', () => {
      if (framer.inFrame) {
        stats.broken++;
        logger.warn({ peer }, 'mllp: connection ended inside a frame; partial message dropped');
      }
      // answer what is in hand, then close our side
      void tail.then(() => socket.end());
    });
  };

  const server: Server = createServer({ allowHalfOpen: true }, onConnection);
  server.maxConnections = opts.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  logger.info({ host: opts.host, port: addr.port }, 'mllp listener started');
  return {
    port: addr.port,
    host: opts.host,
    stats,
    async close() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
