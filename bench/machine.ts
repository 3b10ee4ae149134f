import { cpus, totalmem } from 'node:os';
import type postgres from 'postgres';

export interface Machine {
  node: string;
  postgres: string;
  cpu: string;
  cores: number;
  ramGiB: number;
  platform: string;
}

export async function describeMachine(sql: postgres.Sql): Promise<Machine> {
  const [row] = await sql<
    { version: string }[]
  >`SELECT current_setting('server_version') AS version`;
  const cpu = cpus();
  return {
    node: process.version,
    postgres: row?.version ?? 'unknown',
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    ramGiB: Math.round(totalmem() / 2 ** 30),
    platform: `${process.platform} ${process.arch}`,
  };
}
