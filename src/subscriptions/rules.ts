// Pure rules of subscriptions: package metadata, provider mapping, validation issues and trigger timings.
import type { FhirResource } from '../fhir/store/index.ts';
import { patientDemographics } from '../history/rules.ts';
import type { SubscriptionsConfig } from './config.ts';

export const PROVIDER_CODES = ['commonwell', 'surescripts', 'bamboo', 'collective', 'quest'] as const;
export type ProviderCode = (typeof PROVIDER_CODES)[number];

/** PackageMeta of the notes §3. */
export interface PackageMeta {
  initialProviders?: string[];
  freshmakerProviders?: string[];
  recurringProvidersWithInterval?: { intervalDays: number; provider: string }[];
  subscriptionProviders?: string[];
}

/**
 * Package provider codes → patient-history services. "commonwell" is the EHR-network label of the reference UI
 * ("EHR Network"), so it queries both EHR networks of the history runner (CommonWell and Carequality);
 * surescripts is the pharmacy network; quest the lab network (when the history runner has it). bamboo and
 * collective are push-only ADT feeds: nothing to query.
 */
export function historyServicesFor(providers: readonly string[], available: ReadonlySet<string>): string[] {
  const out = new Set<string>();
  for (const p of providers) {
    const mapped = p === 'commonwell' ? ['commonwell', 'carequality'] : p === 'surescripts' ? ['surescripts'] : p === 'quest' ? ['quest'] : [];
    for (const s of mapped) if (available.has(s)) out.add(s);
  }
  return [...out];
}

/** Checks a PackageMeta from an operator; returns the problems (empty when valid). */
export function packageMetaProblems(meta: unknown): string[] {
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) return ['meta must be an object'];
  const m = meta as Record<string, unknown>;
  const problems: string[] = [];
  const known = new Set(['initialProviders', 'freshmakerProviders', 'recurringProvidersWithInterval', 'subscriptionProviders']);
  for (const k of Object.keys(m)) if (!known.has(k)) problems.push(`meta.${k} is not a PackageMeta field`);
  const codes = (k: string) => {
    const v = m[k];
    if (v === undefined) return;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || !(PROVIDER_CODES as readonly string[]).includes(x))) problems.push(`meta.${k} must be a list of provider codes (${PROVIDER_CODES.join(', ')})`);
  };
  codes('initialProviders');
  codes('freshmakerProviders');
  codes('subscriptionProviders');
  const r = m.recurringProvidersWithInterval;
  if (r !== undefined) {
    if (!Array.isArray(r) || r.some((x) => typeof x !== 'object' || x === null || !Number.isInteger((x as any).intervalDays) || (x as any).intervalDays < 1 || !(PROVIDER_CODES as readonly string[]).includes((x as any).provider))) {
      problems.push('meta.recurringProvidersWithInterval must be a list of {intervalDays: integer ≥ 1, provider: provider code}');
    }
  }
  return problems;
}

/** Recurring refreshes: the package's entries grouped by interval (one schedule per distinct interval). */
export function recurringGroups(meta: PackageMeta): { intervalDays: number; providers: string[] }[] {
  const by = new Map<number, Set<string>>();
  for (const r of meta.recurringProvidersWithInterval ?? []) {
    const set = by.get(r.intervalDays) ?? new Set<string>();
    set.add(r.provider);
    by.set(r.intervalDays, set);
  }
  return [...by.entries()].sort((a, b) => a[0] - b[0]).map(([intervalDays, s]) => ({ intervalDays, providers: [...s] }));
}

/** The recurring reason key: `recurring:<n>` for a package's only (or shortest) interval, `recurring-<days>d:<n>` for others. */
export function recurringKey(groupIndex: number, intervalDays: number, n: number): string {
  return groupIndex === 0 ? `recurring:${n}` : `recurring-${intervalDays}d:${n}`;
}

/** Does the package watch the pharmacy network (so it gets refill checks and the pharmacy backstop)? */
export function watchesPharmacy(meta: PackageMeta): boolean {
  return [...(meta.freshmakerProviders ?? []), ...(meta.subscriptionProviders ?? []), ...(meta.recurringProvidersWithInterval ?? []).map((r) => r.provider)].includes('surescripts');
}

export interface ValidationIssue {
  code: string;
  level: 'WARN';
  message: string;
}

const ISSUES: Record<string, [string, string]> = {
  'first name': ['Patient.Name.Given.Required', 'Patient first name is required.'],
  'last name': ['Patient.Name.Family.Required', 'Patient last name is required.'],
  'birth date': ['Patient.BirthDate.Required', 'Patient birth date is required.'],
  gender: ['Patient.Gender.Required', 'Patient gender is required.'],
  'address line 1': ['Patient.Address.Line.Required', 'Patient address line 1 is required.'],
  city: ['Patient.Address.City.Required', 'Patient address city is required.'],
  state: ['Patient.Address.State.Required', 'Patient address state is required.'],
  zip: ['Patient.Address.PostalCode.Required', 'Patient address zip code is required.'],
};

/** The enrollment's validation issues: the demographics patient-history jobs need (src/history/rules.ts). */
export function validationIssues(patient: FhirResource): ValidationIssue[] {
  return patientDemographics(patient).missing.map((m) => {
    const known = ISSUES[m];
    if (known) return { code: known[0], level: 'WARN' as const, message: known[1] };
    return { code: 'Patient.Address.PostalCode.Invalid', level: 'WARN' as const, message: 'Patient zip code must be 5 digits or 5-4 digits separated by a hyphen.' };
  });
}

export const THIRD_PARTY_SOURCE = 'https://zusapi.com/thirdparty/source';
export const ADT_SOURCES = ['bamboohealth', 'collective-medical'];

export function sourceTagOf(r: FhirResource): string | undefined {
  return (((r.meta as any)?.tag ?? []) as any[]).find((t) => t?.system === THIRD_PARTY_SOURCE)?.code;
}

export function patientRefId(ref: unknown): string | undefined {
  const s = typeof ref === 'object' && ref !== null ? (ref as { reference?: unknown }).reference : undefined;
  if (typeof s !== 'string') return undefined;
  const m = /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/.*)?$/.exec(s);
  return m?.[1];
}

export function appointmentPatientId(a: FhirResource): string | undefined {
  for (const p of (a.participant as any[] | undefined) ?? []) {
    const id = patientRefId(p?.actor);
    if (id) return id;
  }
  return undefined;
}

const INACTIVE_APPOINTMENT = new Set(['cancelled', 'noshow', 'entered-in-error', 'fulfilled', 'arrived', 'checked-in']);

/** An appointment that still expects the patient (not cancelled, not already happening). */
export function appointmentIsUpcoming(a: FhirResource): boolean {
  return !INACTIVE_APPOINTMENT.has(String(a.status ?? ''));
}

/**
 * When to refresh before an appointment starting at `start`, written at `now`: written more than
 * `appointmentFarMs` (5 days) ahead → `appointmentLeadMs` (72 h) before it, which is both "≥ 72 h before" (notes)
 * and "1–3 days before" (spec/001); written sooner → at once (the notes' "within 1 h"). null when it has started.
 */
export function appointmentDue(start: Date, now: Date, cfg: SubscriptionsConfig): Date | null {
  const lead = start.getTime() - now.getTime();
  if (lead <= 0) return null;
  if (lead > cfg.appointmentFarMs) return new Date(start.getTime() - cfg.appointmentLeadMs);
  return now;
}

/** Expected refill: whenHandedOver (else whenPrepared) + daysSupply (in days). null when unknown. */
export function expectedRefill(d: FhirResource): Date | null {
  const base = (d.whenHandedOver ?? d.whenPrepared) as string | undefined;
  const supply = d.daysSupply as { value?: number; unit?: string; code?: string } | undefined;
  if (!base || typeof supply?.value !== 'number' || !(supply.value > 0)) return null;
  const unit = String(supply.code ?? supply.unit ?? 'd').toLowerCase();
  if (!['d', 'day', 'days'].includes(unit)) return null;
  const t = new Date(base).getTime();
  if (Number.isNaN(t)) return null;
  return new Date(t + supply.value * 24 * 3600_000);
}

/** An ADT Encounter that records a discharge: status finished, or a period end. */
export function isDischarge(e: FhirResource): boolean {
  return e.status === 'finished' || typeof (e.period as any)?.end === 'string';
}
