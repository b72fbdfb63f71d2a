import { pino } from 'pino';
/**
 * JSON lines on stdout; fields that could carry secrets are redacted if they
 * ever appear. Without a destination, stdout is written asynchronously
 * (lines logged while a write is in flight go out together in the next), so a
 * log line never blocks a review on a slow pipe; pino flushes what is
 * buffered when the process exits.
 */
export function createLogger(level, destination = pino.destination({ dest: 1, sync: false })) {
    return pino({
        level,
        base: { service: 'sre-quero' },
        redact: { paths: ['req.headers.authorization', 'key', 'tls.key', 'token'], censor: '[redacted]' },
    }, destination);
}
//# sourceMappingURL=logger.js.map