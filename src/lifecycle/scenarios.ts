/**
 * The scenarios `simulate` knows, in their own small module so `--help` lists exactly these
 * without loading the simulator (and the emulator) at start-up.
 */
export const SCENARIOS = [
  'default',
  'password-change',
  'faults',
  'throttling',
  'page-token',
  'role-removed',
  /** 5 logins sharing the Pages; one admin's password change, one alert, one reconnect. */
  'agency',
] as const;
export type Scenario = (typeof SCENARIOS)[number];
