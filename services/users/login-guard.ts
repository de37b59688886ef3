/** A limit of failed logins: `failures` per `windowMs`, refilled evenly. */
export interface FailureLimit {
  failures: number;
  windowMs: number;
}

/** Options for {@link createLoginGuard}. */
export interface LoginGuardOptions {
  /** Per client address. Defaults to 20 failures a minute. */
  perAddress?: FailureLimit;
  /** Per account (the email as given, existing or not). Defaults to 5 failures a minute. */
  perAccount?: FailureLimit;
  /** Keys remembered before the fullest buckets are forgotten. Defaults to 100,000. */
  maxKeys?: number;
  /** Defaults to Date.now. */
  now?: () => number;
}

/** Counts failed logins and says when a login must wait. */
export interface LoginGuard {
  /**
   * Takes one failure's worth from the address's and the account's allowance before a
   * password is checked, so that logins in flight count too (16 at once must not all start
   * hashing): 0 when the login may go on, else the seconds until one may, and nothing is taken.
   */
  admit(address: string, account: string): number;
  /** Gives back what {@link admit} took: the password was right. */
  succeeded(address: string, account: string): void;
}

const DEFAULT_PER_ADDRESS: FailureLimit = { failures: 20, windowMs: 60_000 };
const DEFAULT_PER_ACCOUNT: FailureLimit = { failures: 5, windowMs: 60_000 };
const DEFAULT_MAX_KEYS = 100_000;

/** A token bucket of allowed failures per key, refilled continuously. */
class Buckets {
  private readonly tokens = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly limit: FailureLimit,
    private readonly maxKeys: number,
    private readonly now: () => number,
  ) {}

  private current(key: string): { tokens: number; at: number } {
    const now = this.now();
    const found = this.tokens.get(key);
    if (!found) return { tokens: this.limit.failures, at: now };
    const refill = ((now - found.at) / this.limit.windowMs) * this.limit.failures;
    return { tokens: Math.min(this.limit.failures, found.tokens + refill), at: now };
  }

  /** Ms until the key has a failure left to spend (0: now). */
  waitMs(key: string): number {
    const { tokens } = this.current(key);
    return tokens >= 1 ? 0 : ((1 - tokens) / this.limit.failures) * this.limit.windowMs;
  }

  /** Adds `delta` tokens (negative to spend), within the bucket's size. */
  add(key: string, delta: number): void {
    const bucket = this.current(key);
    bucket.tokens = Math.min(this.limit.failures, Math.max(0, bucket.tokens + delta));
    this.tokens.delete(key);
    this.tokens.set(key, bucket);
    // The oldest entries go first; a key not seen for a window is full again anyway.
    if (this.tokens.size > this.maxKeys) this.tokens.delete(this.tokens.keys().next().value!);
  }
}

/**
 * Failed logins per client address and per account, each a token bucket: a login is refused
 * (RESOURCE_EXHAUSTED, Retry-After) while either is spent, without hashing anything. Only
 * failures spend, so a user who types the password right is never held back by others' load;
 * the account is keyed by the email as given, so a refusal says nothing about whether it
 * exists (the same answer as for a wrong password, only later).
 */
export function createLoginGuard(options: LoginGuardOptions = {}): LoginGuard {
  const now = options.now ?? Date.now;
  const maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
  const addresses = new Buckets(options.perAddress ?? DEFAULT_PER_ADDRESS, maxKeys, now);
  const accounts = new Buckets(options.perAccount ?? DEFAULT_PER_ACCOUNT, maxKeys, now);
  return {
    admit(address, account) {
      const ms = Math.max(addresses.waitMs(address), accounts.waitMs(account));
      if (ms > 0) return Math.ceil(ms / 1_000);
      addresses.add(address, -1);
      accounts.add(account, -1);
      return 0;
    },
    succeeded(address, account) {
      addresses.add(address, 1);
      accounts.add(account, 1);
    },
  };
}
