/** Row counts derived from the number of killmails; the default (1M) gives the figures. */
export interface Scale {
  killmails: number;
  /** Months of killmails: the 12 before the current UTC month and the current one, up to now. */
  months: 13;
  characters: number;
  corporations: number;
  alliances: number;
  systems: number;
  shipTypes: number;
  seasons: 5;
  periodsPerSeason: number;
  dungeons: number;
  realms: number;
  runs: number;
  membersPerRun: 5;
  players: number;
  users: number;
  profiles: number;
  /** Largest INSERT ... SELECT, in killmails: bounds memory and gives the bar its ticks. */
  chunk: number;
}

export function scaleFor(killmails: number): Scale {
  const characters = Math.max(100_000, Math.round(killmails / 10));
  const runs = Math.max(1_000, Math.round(killmails / 5));
  return {
    killmails,
    months: 13,
    characters,
    corporations: Math.round(characters / 5),
    alliances: Math.max(100, Math.round(characters / 50)),
    systems: 8_000,
    shipTypes: 400,
    seasons: 5,
    periodsPerSeason: 10,
    dungeons: 8,
    realms: 50,
    runs,
    membersPerRun: 5,
    players: Math.max(1_000, Math.round(runs / 4)),
    users: Math.max(500, Math.round(killmails / 1_000)),
    profiles: Math.max(1_000, Math.round(killmails / 100)),
    chunk: 200_000,
  };
}

/** Game id bases, as in EVE (characters 9e7.., corporations 9.8e7.., alliances 9.9e7..). */
export const IDS = {
  killmail: 100_000_000,
  character: 90_000_000,
  corporation: 98_000_000,
  alliance: 99_000_000,
  system: 30_000_000,
  shipType: 580,
  faction: 500_000,
} as const;

export const MODULE_TAGS = [
  'warp_disruptor',
  'warp_scrambler',
  'stasis_webifier',
  'cloak',
  'covert_cloak',
  'mwd',
  'afterburner',
  'armor_repairer',
  'shield_booster',
  'armor_plate',
  'shield_extender',
  'damage_control',
  'nos',
  'neut',
  'ecm',
  'sensor_damp',
  'tracking_disruptor',
  'target_painter',
  'interdiction_sphere',
  'bubble',
  'cyno',
  'covert_cyno',
  'jump_drive',
  'smartbomb',
  'drone_link',
  'heavy_drones',
  'sentry_drones',
  'light_drones',
  'railgun',
  'blaster',
  'laser',
  'pulse_laser',
  'beam_laser',
  'autocannon',
  'artillery',
  'missile_launcher',
  'torpedo',
  'cruise_missile',
  'rocket',
  'heavy_missile',
  'remote_repair',
  'remote_shield',
  'capacitor_booster',
  'cap_battery',
  'mining_laser',
  'strip_miner',
  'salvager',
  'probe_launcher',
  'data_analyzer',
  'relic_analyzer',
  'gas_harvester',
  'tractor_beam',
  'bastion',
  'siege_module',
  'triage_module',
  'command_burst',
  'entosis_link',
  'micro_jump_drive',
  'inertial_stabilizer',
  'nanofiber',
];

export const SECURITY = ['highsec', 'lowsec', 'nullsec', 'wormhole'];
export const SHIP_GROUPS = [
  'frigate',
  'destroyer',
  'cruiser',
  'battlecruiser',
  'battleship',
  'capsule',
  'interceptor',
  'assault_frigate',
  'heavy_assault_cruiser',
  'recon',
  'logistics',
  'dreadnought',
  'carrier',
  'force_auxiliary',
  'titan',
  'industrial',
  'mining_barge',
  'freighter',
  'stealth_bomber',
  'interdictor',
];
