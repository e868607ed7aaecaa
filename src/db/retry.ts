// Transactions that may lose to a concurrent one: a deadlock (40P01), a serialization failure (40001) or a lost
// race to insert the same key (23505) aborts one of them, and running it again is the fix.

/** Runs `fn` (which opens its own transaction) again after such a failure, up to `attempts` times. */
export async function retryOnConflict<T>(fn: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (i >= attempts || (code !== '40P01' && code !== '40001' && code !== '23505')) throw err;
      await new Promise((r) => setTimeout(r, 5 * i + Math.random() * 20));
    }
  }
}
