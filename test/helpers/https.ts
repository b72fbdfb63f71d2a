import { request } from 'node:https';

export interface HttpsReply {
  status: number;
  body: string;
}

/** One POST over a fresh TLS connection that trusts only `ca`. */
export function httpsPost(url: string, ca: string, body: string, headers: Record<string, string> = {}): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', ca, agent: false, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
