// Validation rules of spec/002: NPI check digit, targetDate, full demographics, chart build types.
import type { FhirResource } from '../fhir/store/index.ts';
import type { NetworkService } from '../networks/connectors/types.ts';

/** NPI check digit: Luhn over the 9 leading digits prefixed with 80840 (CMS NPI standard). */
export function isValidNpi(npi: string): boolean {
  if (!/^\d{10}$/.test(npi)) return false;
  const digits = `80840${npi.slice(0, 9)}`;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return (10 - (sum % 10)) % 10 === Number(npi[9]);
}

/**
 * targetDate: an RFC 3339 date-time with a zone, or a full date meaning 12:01 a.m. (UTC) that day.
 * Returns null when the value is neither.
 */
export function parseTargetDate(value: string): Date | null {
  const dateOnly = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (dateOnly) {
    const d = new Date(`${value}T00:01:00Z`);
    return Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== value ? null : d;
  }
  if (!/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.test(value)) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

export const CHART_BUILD_TYPES: Record<string, NetworkService[]> = {
  'pro-ehr-pharmacy': ['commonwell', 'carequality', 'surescripts'],
  'pro-ehr-only': ['commonwell', 'carequality'],
  'pro-pharmacy-only': ['surescripts'],
};
export const DEFAULT_CHART_BUILD_TYPE = 'pro-ehr-pharmacy';

export interface PatientDemographicsOrMissing {
  demographics: { given: string; family: string; birthDate: string; gender: string; line: string; city: string; state: string; postalCode: string; phone?: string; email?: string } | null;
  /** field names as the spec lists them */
  missing: string[];
}

/** The demographics a job needs (spec/002 "Demographics needed for patient matching"). */
export function patientDemographics(p: FhirResource): PatientDemographicsOrMissing {
  const names = (p.name as any[] | undefined) ?? [];
  const name = names.find((n) => n?.use === 'official') ?? names.find((n) => n?.use !== 'old') ?? names[0];
  const addrs = (p.address as any[] | undefined) ?? [];
  const addr = addrs.find((a) => a?.use === 'home') ?? addrs.find((a) => a?.use !== 'old') ?? addrs[0];
  const telecom = (p.telecom as any[] | undefined) ?? [];
  const given = name?.given?.[0];
  const family = name?.family;
  const zip = addr?.postalCode;
  const missing: string[] = [];
  if (!given) missing.push('first name');
  if (!family) missing.push('last name');
  if (!p.birthDate) missing.push('birth date');
  if (!p.gender) missing.push('gender');
  if (!addr?.line?.[0]) missing.push('address line 1');
  if (!addr?.city) missing.push('city');
  if (!addr?.state) missing.push('state');
  if (!zip) missing.push('zip');
  else if (!/^\d{5}(-\d{4})?$/.test(String(zip))) missing.push('zip (5 digits or 5-4, separated by a hyphen)');
  if (missing.length) return { demographics: null, missing };
  return {
    missing,
    demographics: {
      given, family, birthDate: String(p.birthDate), gender: String(p.gender), line: addr.line[0], city: addr.city, state: addr.state, postalCode: String(zip),
      phone: telecom.find((t) => t?.system === 'phone')?.value, email: telecom.find((t) => t?.system === 'email')?.value,
    },
  };
}
