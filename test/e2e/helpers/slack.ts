/** A Slack-compatible incoming webhook on loopback: records every POST body and answers `ok` like Slack does. */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What Alertmanager's Slack notifier posts (the fields the suite reads). */
export interface SlackMessage {
  channel?: string;
  username?: string;
  attachments: { title?: string; text?: string; fallback?: string; color?: string }[];
}

export interface Received {
  /** Unix ms when it arrived. */
  at: number;
  path: string;
  contentType: string;
  body: SlackMessage;
}

export interface SlackReceiver {
  url: string;
  messages: Received[];
  close(): Promise<void>;
}

/** startSlackReceiver listens on 127.0.0.1:0; `url` is what goes into the api_url_file. */
export async function startSlackReceiver(): Promise<SlackReceiver> {
  const messages: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: SlackMessage;
      try {
        body = JSON.parse(raw) as SlackMessage;
      } catch {
        // Slack answers a body it cannot read with 400 invalid_payload.
        res.writeHead(400, { 'content-type': 'text/plain' }).end('invalid_payload');
        return;
      }
      messages.push({ at: Date.now(), path: req.url ?? '', contentType: String(req.headers['content-type'] ?? ''), body });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/services/T000/B000/e2e`,
    messages,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** titleOf is the first attachment's title, e.g. `[FIRING:1] ProbeFailing`. */
export function titleOf(m: Received): string {
  return m.body.attachments?.[0]?.title ?? '';
}

export function textOf(m: Received): string {
  return m.body.attachments?.[0]?.text ?? '';
}
