// Shared by the subscription tests: an enrolling practitioner and a Patient with every demographic that
// enrollment (and a patient-history job) requires.
export const PRACTITIONER = { npi: '1013085661', name: 'Sample Practitioner', role: '309343006' };
export const FULL_PATIENT = {
  resourceType: 'Patient',
  name: [{ use: 'official', family: 'Doe', given: ['Jane'] }],
  gender: 'female',
  birthDate: '1980-02-03',
  address: [{ line: ['1 Main St'], city: 'Boston', state: 'MA', postalCode: '02110' }],
};
