// Types for reddot.js. The runtime is plain JavaScript; see docs/sdk.md.

export type TransportName = 'websocket' | 'sse' | 'longpoll' | 'poll' | 'iframe' | 'mqtt' | (string & {});

/** An event as delivered on every transport. */
export interface ReddotEvent<D = any> {
  id: string;
  topic: string;
  /** Per topic, from 1, gapless; 0 for ephemeral events (unread, reset). */
  seq: number;
  event: 'message' | 'notification' | 'unread' | 'reset' | (string & {});
  data: D;
  time: string;
  /** Opaque resume position after this event. */
  cursor?: string;
}

export interface UnreadCounts {
  total: number;
  categories: Record<string, number>;
}

export interface Notification {
  id: string;
  category: string;
  title: string;
  body?: string;
  url?: string;
  data?: unknown;
  time: string;
  read: boolean;
  broadcast?: boolean;
}

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'offline' | 'closed';

export interface StateChange {
  state: ConnectionState;
  transport: TransportName | null;
  role: 'leader' | 'follower' | null;
  /** true while transport:'auto' picks the transport. */
  auto: boolean;
}

export interface ReddotError {
  transport?: TransportName;
  status?: number;
  code?: string | number;
  message?: string;
  err?: unknown;
  [k: string]: unknown;
}

/** What a transport adapter is handed; see docs/sdk.md, "Writing a transport". */
export interface ConnectionContext {
  readonly base: string;
  readonly o: Required<ReddotOptions>;
  readonly user: string;
  readonly token: string | undefined;
  cursor: string;
  topics(): string[];
  url(path: string, withToken?: boolean | 0 | 1, extra?: Record<string, string | number>): string;
  auth(): Record<string, string>;
  open(): void;
  alive(): void;
  sync(): void;
  event(ev: ReddotEvent): void;
  error(e: { code?: string; message?: string }): void;
  reset(): void;
  fail(info?: { status?: number; code?: number; auth?: boolean; now?: boolean; eof?: boolean | number; err?: unknown }): void;
}

export interface Connection {
  close(): void;
  /** Subscribe more topics on the live connection (else the client reconnects). */
  add?(topics: string[]): void;
  /** Check the connection now (page visible again, back online). */
  poke?(): void;
}

export type Adapter = (c: ConnectionContext) => Connection;

export interface ReddotOptions {
  /** Server base URL; default location.origin. */
  url?: string;
  /** A subscriber token (JWT), or none for anonymous access to public topics. */
  token?: string;
  /** Called for a token at start, before it expires, and after the server refused it. */
  getToken?: () => string | Promise<string>;
  /** 'auto' (default) tries websocket → sse → longpoll → poll and remembers what worked. */
  transport?: 'auto' | TransportName;
  topics?: string[];
  /** Include the user's inbox (notifications, unread counts); default true. */
  inbox?: boolean;
  /** One connection per browser, shared by the tabs of this origin; default true. */
  share?: boolean;
  pollInterval?: number;
  longpollTimeout?: number;
  openTimeout?: number;
  staleTimeout?: number;
  pingInterval?: number;
  rememberFor?: number;
  /** Extra or replacement transports, e.g. { mqtt: mqttTransport(mqtt) }. */
  adapters?: Record<string, Adapter>;
}

export interface Inbox {
  list(q?: { limit?: number; before?: string; category?: string; status?: 'unread' | 'read' | 'all' }): Promise<{ items: Notification[]; next: string }>;
  read(ids: string | string[]): Promise<UnreadCounts>;
  readAll(): Promise<UnreadCounts>;
  readCategory(category: string): Promise<UnreadCounts>;
  delete(id: string): Promise<void>;
  unread(): Promise<UnreadCounts>;
}

export class Reddot {
  constructor(options?: ReddotOptions);
  readonly url: string;
  readonly unread: UnreadCounts;
  readonly state: ConnectionState;
  readonly transport: TransportName | null;
  readonly role: 'leader' | 'follower' | null;
  readonly cursor: string;
  readonly user: string | undefined;
  readonly inbox: Inbox;
  on(name: 'event', fn: (ev: ReddotEvent) => void): () => void;
  on(name: 'notification', fn: (ev: ReddotEvent<Notification & { unread: UnreadCounts }>) => void): () => void;
  on(name: 'unread', fn: (counts: UnreadCounts) => void): () => void;
  on(name: 'reset', fn: (ev: ReddotEvent) => void): () => void;
  on(name: 'state', fn: (s: StateChange) => void): () => void;
  on(name: 'error', fn: (e: ReddotError) => void): () => void;
  subscribe<D = any>(topic: string, fn: (ev: ReddotEvent<D>) => void): () => void;
  setTransport(name: 'auto' | TransportName): void;
  close(): void;
}

export const ORDER: readonly TransportName[];
export const transports: Record<'websocket' | 'sse' | 'longpoll' | 'poll' | 'iframe', Adapter>;
export function backoff(n: number, base?: number, max?: number, rnd?: () => number): number;
export function jwtClaims(token: string): Record<string, any>;
export function expiresSoon(token: string, ms?: number, at?: number): boolean;
export function sseParser(onEvent: (e: { event: string; data: string; id: string }) => void, onComment?: (text: string) => void): (chunk: string) => void;
export function nextTransport(name: TransportName): TransportName;
export class Dedup {
  constructor(size?: number);
  seen(ev: { id: string; topic: string; seq?: number }): boolean;
  forget(topic?: string): void;
}
export default Reddot;
