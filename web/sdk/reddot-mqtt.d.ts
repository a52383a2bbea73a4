import type { Adapter } from './reddot.js';

export interface MqttTransportOptions {
  /** Path of MQTT over WebSocket on the server; default '/mqtt'. */
  path?: string;
  /** 4 = MQTT 3.1.1 (default), 5 = MQTT 5. */
  protocolVersion?: 4 | 5;
  /** Keepalive in seconds; default 20. */
  keepalive?: number;
}

/** The `mqtt` npm module (anything with connect), or a function that loads it. */
export type MqttLib = { connect: (...args: any[]) => any } | { default: { connect: (...args: any[]) => any } };

export function mqttTransport(lib: MqttLib | (() => Promise<MqttLib>), options?: MqttTransportOptions): Adapter;
export function mqttTopics(topics: string[], user: string, inbox?: boolean): string[];
export default mqttTransport;
