/** Something a test opens and must close: an image, a server. */
export interface Closable {
  close(): Promise<void>;
}

/** Runs `fn` with what `opening` resolves to, then closes it, whether `fn` returned or threw. */
export async function withClosing<T extends Closable>(opening: Promise<T>, fn: (it: T) => Promise<void>): Promise<void> {
  const it = await opening;
  try {
    await fn(it);
  } finally {
    await it.close();
  }
}
