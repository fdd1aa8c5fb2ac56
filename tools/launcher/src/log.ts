const COLORS: Record<string, number> = {
  gateway: 36,
  orders: 33,
  inventory: 32,
  payments: 35,
  postgres: 34,
  kafka: 90,
  infra: 37,
  platform: 1,
  traces: 94,
  issuer: 91,
};
const tty = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (name: string, text: string) => (tty ? `\x1b[${COLORS[name] ?? 37}m${text}\x1b[0m` : text);

/** One line of the combined log, prefixed with its source. */
export const say = (source: string, line: string) =>
  void process.stdout.write(`${paint(source, source.padEnd(9))} | ${line}\n`);

const LEVELS: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

/** A service's JSON log line (pino) as "time LEVEL msg {rest}"; anything else as it is. */
export function pretty(line: string): string {
  if (!line.startsWith('{')) return line;
  try {
    const parsed = JSON.parse(line) as Record<string, unknown>;
    const { time, level, msg, service: _s, pid: _p, hostname: _h, ...rest } = parsed;
    const name = typeof level === 'number' ? LEVELS[level] : level;
    const lvl = (typeof name === 'string' ? name : '').toUpperCase().padEnd(5);
    const t = typeof time === 'string' ? time.slice(11, 23) : '';
    const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
    return `${t} ${lvl} ${typeof msg === 'string' ? msg : ''}${extra}`;
  } catch {
    return line;
  }
}
