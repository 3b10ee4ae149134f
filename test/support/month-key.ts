/** The RANGE key of month `m` (1-12) of 2026, UTC. */
export const month2026 = (m: number) =>
  ({
    kind: 'range',
    from: new Date(Date.UTC(2026, m - 1, 1)),
    to: new Date(Date.UTC(2026, m, 1)),
  }) as const;
