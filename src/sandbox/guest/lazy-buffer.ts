/**
 * The `Buffer` global (runtime.md §2), loaded on first use. The polyfill is about two thirds of
 * the guest runtime's source and would otherwise be evaluated in every request's fresh context,
 * while most mims never touch it.
 *
 * esbuild bundles the `buffer` package as a CommonJS module whose body runs only when required,
 * so the require() below is the moment it is evaluated.
 */
declare const require: (id: 'buffer') => { Buffer: unknown };

export function defineLazyBuffer(g: Record<string, unknown>): void {
  let loaded: unknown;
  // Accessor first, plain writable value once touched: after the first read (or an assignment by
  // the mim) `Buffer` is an ordinary global, as it would be had it been set eagerly.
  const settle = (value: unknown): void => {
    Object.defineProperty(g, 'Buffer', { value, writable: true, configurable: true, enumerable: true });
  };
  Object.defineProperty(g, 'Buffer', {
    configurable: true,
    enumerable: true,
    get(): unknown {
      loaded ??= require('buffer').Buffer;
      try {
        settle(loaded);
      } catch {
        // The mim froze the global object: keep answering through this getter.
      }
      return loaded;
    },
    set(value: unknown): void {
      settle(value);
    },
  });
}
