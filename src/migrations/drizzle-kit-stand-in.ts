/**
 * What a drizzle.config module takes from drizzle-kit, for loading it where drizzle-kit is not
 * installed (a production image built with `npm ci --omit=dev` that runs `pgparts migrate`):
 * migrate reads only the config's `out`, `dialect` and `migrations`, and never runs drizzle-kit.
 * `defineConfig` is drizzle-kit's identity function for typing a config.
 */
export function defineConfig<T>(config: T): T {
  return config;
}
