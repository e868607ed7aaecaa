import { envNumber } from '../platform/config.ts';

const H = 3600_000;
const D = 24 * H;

/** Subscription and intelligent-refresh settings; durations in ms, all measured on the injectable clock. */
export interface SubscriptionsConfig {
  /** real ms between polls of the refresh worker when idle */
  pollMs: number;
  /** due refreshes claimed per transaction */
  batchSize: number;
  /** a non-priority enrollment's initial refresh runs this long after activation */
  initialDelayMs: number;
  /** priority enrollments: at most this many immediate initial refreshes per builder per window (notes: 10/min) */
  priorityPerWindow: number;
  priorityWindowMs: number;
  /** an appointment written more than this ahead of its start gets its refresh `appointmentLeadMs` before it; otherwise at once */
  appointmentFarMs: number;
  appointmentLeadMs: number;
  /** ADT discharge: first refresh this long after the discharge notification (≤ 24 h, notes; ≤ 36 h, spec/001)… */
  dischargeFirstMs: number;
  /** …and a second one this long after it (within a week) */
  dischargeSecondMs: number;
  /** expected refill (pickup + daysSupply) is checked this long after it */
  refillCheckMs: number;
  /** a refill check within this distance of a pending one for the same patient is folded into it */
  refillCoalesceMs: number;
  /** a pharmacy refresh at least this often (since the last one the engine started) */
  pharmacyBackstopMs: number;
  /** package used when an enrollment request names none (the medplum-bot form) */
  defaultPackageId: string;
}

export function loadSubscriptionsConfig(env: NodeJS.ProcessEnv = process.env): SubscriptionsConfig {
  const n = (k: string, d: number, min = 0) => envNumber(`TESSERA_SUBSCRIPTIONS_${k}`, d, min, env);
  return {
    pollMs: n('POLL_MS', 1000, 1),
    batchSize: n('BATCH_SIZE', 20, 1),
    initialDelayMs: n('INITIAL_DELAY_MS', 1 * H),
    priorityPerWindow: n('PRIORITY_PER_WINDOW', 10, 1),
    priorityWindowMs: n('PRIORITY_WINDOW_MS', 60_000, 1),
    appointmentFarMs: n('APPOINTMENT_FAR_MS', 5 * D),
    appointmentLeadMs: n('APPOINTMENT_LEAD_MS', 72 * H),
    dischargeFirstMs: n('DISCHARGE_FIRST_MS', 12 * H),
    dischargeSecondMs: n('DISCHARGE_SECOND_MS', 6 * D),
    refillCheckMs: n('REFILL_CHECK_MS', 5 * D),
    refillCoalesceMs: n('REFILL_COALESCE_MS', 2 * D),
    pharmacyBackstopMs: n('PHARMACY_BACKSTOP_MS', 36 * D),
    defaultPackageId: env.TESSERA_SUBSCRIPTIONS_DEFAULT_PACKAGE ?? 'monitoring',
  };
}
