// Recognising what a section holds: by templateId (R1.1 and R2.1 share roots), else by its LOINC code.
import { type XmlElement, child, children } from '../xml/index.ts';
import type { SectionKind } from './entries.ts';

const S = '2.16.840.1.113883.10.20.22.2.';

const BY_TEMPLATE: Record<string, SectionKind> = {
  [S + '6']: 'allergies', [S + '6.1']: 'allergies',
  [S + '1']: 'medications', [S + '1.1']: 'medications', [S + '11']: 'medications', [S + '11.1']: 'medications', [S + '44']: 'medications',
  [S + '5']: 'problems', [S + '5.1']: 'problems', [S + '20']: 'problems', [S + '39']: 'problems', [S + '37']: 'problems', [S + '28']: 'problems',
  [S + '7']: 'procedures', [S + '7.1']: 'procedures', [S + '25']: 'procedures', [S + '40']: 'equipment',
  [S + '3']: 'results', [S + '3.1']: 'results',
  [S + '4']: 'vitals', [S + '4.1']: 'vitals',
  [S + '17']: 'social',
  [S + '2']: 'immunizations', [S + '2.1']: 'immunizations',
  [S + '22']: 'encounters', [S + '22.1']: 'encounters',
  [S + '10']: 'plan', [S + '9']: 'plan', [S + '21.2']: 'plan', [S + '61']: 'plan', '2.16.840.1.113883.10.20.21.2.3': 'plan',
  [S + '60']: 'goals',
  [S + '58']: 'healthConcerns',
  [S + '14']: 'functional',
  [S + '56']: 'mental',
  [S + '15']: 'family',
  [S + '21']: 'advanceDirectives', [S + '21.1']: 'advanceDirectives',
  [S + '18']: 'payers',
  [S + '23']: 'equipment',
  [S + '500']: 'careTeam',
  [S + '24']: 'diagnoses', [S + '43']: 'diagnoses', [S + '16']: 'diagnoses', [S + '34']: 'diagnoses', [S + '35']: 'diagnoses', [S + '36']: 'diagnoses', [S + '29']: 'diagnoses',
  [S + '38']: 'medsAdministered',
  [S + '65']: 'notes',
};

const BY_LOINC: Record<string, SectionKind> = {
  '48765-2': 'allergies',
  '10160-0': 'medications', '10183-2': 'medications', '42346-7': 'medications', '75311-1': 'medications',
  '11450-4': 'problems', '11348-0': 'problems', '11329-0': 'problems', '55109-3': 'problems', '59776-5': 'problems',
  '47519-4': 'procedures', '59774-0': 'procedures',
  '30954-2': 'results', '18748-4': 'results', '11502-2': 'results',
  '8716-3': 'vitals',
  '29762-2': 'social',
  '11369-6': 'immunizations',
  '46240-8': 'encounters',
  '18776-5': 'plan', '51847-2': 'plan', '62387-6': 'plan', '61149-1': 'plan',
  '61146-7': 'goals',
  '75310-3': 'healthConcerns',
  '47420-5': 'functional',
  '10190-7': 'mental',
  '10157-6': 'family',
  '42348-3': 'advanceDirectives',
  '48768-6': 'payers',
  '46264-8': 'equipment', '55122-6': 'equipment',
  '85847-2': 'careTeam',
  '11535-2': 'diagnoses', '46241-6': 'diagnoses', '10219-4': 'diagnoses', '10218-6': 'diagnoses', '59769-0': 'diagnoses', '59768-2': 'diagnoses', '29548-5': 'diagnoses',
  '29549-3': 'medsAdministered', '18610-6': 'medsAdministered',
  '34109-9': 'notes', '11506-3': 'notes',
};

export function sectionKind(section: XmlElement): SectionKind {
  for (const t of children(section, 'templateId')) {
    const k = t.attrs.root === undefined ? undefined : BY_TEMPLATE[t.attrs.root];
    if (k !== undefined) return k;
  }
  const code = child(section, 'code')?.attrs.code;
  return (code !== undefined ? BY_LOINC[code] : undefined) ?? 'other';
}
