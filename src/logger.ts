import { pino, type Logger } from 'pino';

/** JSON lines on stdout; fields that could carry secrets are redacted if they ever appear. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'sre-quero' },
      redact: { paths: ['req.headers.authorization', 'key', 'tls.key', 'token'], censor: '[redacted]' },
    },
    destination,
  );
}
