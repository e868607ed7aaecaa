// The one result shape shared by every document converter (C-CDA, NCPDP SCRIPT, HL7 v2).
// Converters are pure: text in, this out; they never throw for bad input.

/** A FHIR R4 resource as plain JSON. Kept loose on purpose: converters build many types. */
export interface FhirResource {
  resourceType: string;
  id?: string;
  [key: string]: unknown;
}

export interface BundleEntry {
  fullUrl: string;
  resource: FhirResource;
}

export interface CollectionBundle {
  resourceType: 'Bundle';
  type: 'collection';
  entry: BundleEntry[];
}

export type IssueSeverity = 'fatal' | 'error' | 'warning' | 'information';

export interface OutcomeIssue {
  severity: IssueSeverity;
  /** FHIR issue-type code: 'structure', 'invalid', 'too-costly', 'not-supported', 'processing', 'informational' … */
  code: string;
  diagnostics?: string;
  expression?: string[];
}

export interface ConversionOutcome {
  resourceType: 'OperationOutcome';
  issue: OutcomeIssue[];
}

export interface ConversionStats {
  resourcesByType: Record<string, number>;
  dropped: number;
  droppedByType: Record<string, number>;
}

export interface ConversionResult {
  /** Only resources that passed validation. */
  bundle: CollectionBundle;
  outcome: ConversionOutcome;
  stats: ConversionStats;
  /** false when the input as a whole could not be converted; then the bundle has no entries and outcome says why. */
  ok: boolean;
}

/** Builds the result for an input that could not be converted at all. */
export function failedConversion(code: string, diagnostics: string): ConversionResult {
  return {
    bundle: { resourceType: 'Bundle', type: 'collection', entry: [] },
    outcome: { resourceType: 'OperationOutcome', issue: [{ severity: 'fatal', code, diagnostics }] },
    stats: { resourcesByType: {}, dropped: 0, droppedByType: {} },
    ok: false,
  };
}
