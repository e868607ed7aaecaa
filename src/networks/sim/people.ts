// Synthetic people for the network simulator, generated reproducibly from a seed.
import { seededRandom } from '../../platform/random.ts';

export interface Demographics {
  given: string;
  family: string;
  /** YYYY-MM-DD */
  birthDate: string;
  gender: 'male' | 'female';
  line: string;
  city: string;
  state: string;
  postalCode: string;
  phone?: string;
  email?: string;
}

/** Reproducible randomness for the simulator's people and documents. */
export const prng = seededRandom;

export const pick = <T>(rnd: () => number, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

const FEMALE = ['Mary', 'Patricia', 'Jennifer', 'Linda', 'Elizabeth', 'Barbara', 'Susan', 'Jessica', 'Sarah', 'Karen', 'Lisa', 'Nancy', 'Betty', 'Sandra', 'Margaret', 'Ashley', 'Kimberly', 'Emily', 'Donna', 'Michelle', 'Carol', 'Amanda', 'Melissa', 'Deborah', 'Stephanie', 'Rebecca', 'Sharon', 'Laura', 'Cynthia', 'Amy', 'Angela', 'Helen', 'Anna', 'Brenda', 'Pamela', 'Emma', 'Nicole', 'Samantha', 'Katherine', 'Christine', 'Rachel', 'Carolyn', 'Janet', 'Maria', 'Olivia', 'Heather', 'Diane', 'Julie', 'Joyce', 'Victoria', 'Ruth', 'Virginia', 'Lauren', 'Kelly', 'Christina', 'Joan', 'Evelyn', 'Judith', 'Andrea', 'Hannah', 'Megan', 'Cheryl', 'Jacqueline', 'Martha', 'Madison', 'Teresa', 'Gloria', 'Sara', 'Janice', 'Ann', 'Kathryn', 'Abigail', 'Sophia', 'Frances', 'Jean', 'Alice', 'Judy', 'Isabella', 'Julia', 'Grace', 'Amber', 'Denise', 'Danielle', 'Marilyn', 'Beverly', 'Charlotte', 'Natalie', 'Theresa', 'Diana', 'Brittany', 'Doris', 'Kayla', 'Alexis', 'Lori', 'Marie'];
const MALE = ['James', 'Robert', 'John', 'Michael', 'David', 'William', 'Richard', 'Joseph', 'Thomas', 'Christopher', 'Charles', 'Daniel', 'Matthew', 'Anthony', 'Mark', 'Donald', 'Steven', 'Andrew', 'Paul', 'Joshua', 'Kenneth', 'Kevin', 'Brian', 'George', 'Timothy', 'Ronald', 'Jason', 'Edward', 'Jeffrey', 'Ryan', 'Jacob', 'Gary', 'Nicholas', 'Eric', 'Jonathan', 'Stephen', 'Larry', 'Justin', 'Scott', 'Brandon', 'Benjamin', 'Samuel', 'Gregory', 'Alexander', 'Patrick', 'Frank', 'Raymond', 'Jack', 'Dennis', 'Jerry', 'Tyler', 'Aaron', 'Jose', 'Adam', 'Nathan', 'Henry', 'Zachary', 'Douglas', 'Peter', 'Kyle', 'Noah', 'Ethan', 'Jeremy', 'Walter', 'Christian', 'Keith', 'Roger', 'Terry', 'Austin', 'Sean', 'Gerald', 'Carl', 'Harold', 'Dylan', 'Arthur', 'Lawrence', 'Jordan', 'Jesse', 'Bryan', 'Billy', 'Bruce', 'Gabriel', 'Joe', 'Logan', 'Alan', 'Juan', 'Albert', 'Willie', 'Elijah', 'Wayne', 'Randy', 'Vincent', 'Mason', 'Roy', 'Ralph', 'Bobby', 'Russell', 'Bradley', 'Philip', 'Eugene', 'Soloman'];
const FAMILY = ['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez', 'Hernandez', 'Lopez', 'Gonzalez', 'Wilson', 'Anderson', 'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin', 'Lee', 'Perez', 'Thompson', 'White', 'Harris', 'Sanchez', 'Clark', 'Ramirez', 'Lewis', 'Robinson', 'Walker', 'Young', 'Allen', 'King', 'Wright', 'Scott', 'Torres', 'Nguyen', 'Hill', 'Flores', 'Green', 'Adams', 'Nelson', 'Baker', 'Hall', 'Rivera', 'Campbell', 'Mitchell', 'Carter', 'Roberts', 'Gomez', 'Phillips', 'Evans', 'Turner', 'Diaz', 'Parker', 'Cruz', 'Edwards', 'Collins', 'Reyes', 'Stewart', 'Morris', 'Morales', 'Murphy', 'Cook', 'Rogers', 'Gutierrez', 'Ortiz', 'Morgan', 'Cooper', 'Peterson', 'Bailey', 'Reed', 'Kelly', 'Howard', 'Ramos', 'Kim', 'Cox', 'Ward', 'Richardson', 'Watson', 'Brooks', 'Chavez', 'Wood', 'James', 'Bennett', 'Gray', 'Mendoza', 'Ruiz', 'Hughes', 'Price', 'Alvarez', 'Castillo', 'Sanders', 'Patel', 'Myers', 'Long', 'Ross', 'Foster', 'Jimenez', 'Bergamel', "O'Brien", 'Van der Berg', 'Smith-Jones'];
const STREETS = ['Main St', 'Oak Ave', 'Pine St', 'Maple Dr', 'Cedar Ln', 'Elm St', 'Washington Ave', 'Lake Rd', 'Hill St', 'Park Ave', 'Bainbridge St', 'Sunset Blvd', 'River Rd', 'Church St', 'Highland Ave', 'Walnut St', 'Spring St', 'Chestnut St', 'Broad St', 'Market St'];
const CITIES: readonly [string, string, string][] = [
  ['Philadelphia', 'PA', '19146'], ['Boston', 'MA', '02118'], ['Cambridge', 'MA', '02139'], ['Chicago', 'IL', '60614'], ['Austin', 'TX', '78701'],
  ['Denver', 'CO', '80202'], ['Seattle', 'WA', '98101'], ['Portland', 'OR', '97201'], ['Atlanta', 'GA', '30303'], ['Miami', 'FL', '33101'],
  ['Phoenix', 'AZ', '85004'], ['Columbus', 'OH', '43215'], ['Nashville', 'TN', '37203'], ['Raleigh', 'NC', '27601'], ['Madison', 'WI', '53703'],
  ['Baltimore', 'MD', '21201'], ['Richmond', 'VA', '23219'], ['Omaha', 'NE', '68102'], ['Albany', 'NY', '12207'], ['Sacramento', 'CA', '95814'],
];

export function generateDemographics(rnd: () => number): Demographics {
  const gender = rnd() < 0.5 ? 'female' : 'male';
  const given = pick(rnd, gender === 'female' ? FEMALE : MALE);
  const family = pick(rnd, FAMILY);
  const y = 1930 + Math.floor(rnd() * 85);
  const m = 1 + Math.floor(rnd() * 12);
  const d = 1 + Math.floor(rnd() * 28);
  const [city, state, zip] = pick(rnd, CITIES);
  const num = 10 + Math.floor(rnd() * 9980);
  const phone = `${200 + Math.floor(rnd() * 700)}${200 + Math.floor(rnd() * 700)}${String(Math.floor(rnd() * 10000)).padStart(4, '0')}`;
  return {
    given,
    family,
    birthDate: `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`,
    gender,
    line: `${num} ${pick(rnd, STREETS)}`,
    city,
    state,
    postalCode: zip,
    phone,
    email: rnd() < 0.6 ? `${given}.${family}${Math.floor(rnd() * 100)}@example.com`.toLowerCase().replace(/[^a-z0-9.@-]/g, '') : undefined,
  };
}

const norm = (s: string | undefined) => (s ?? '').normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z0-9]/g, '');

interface NormalizedDemographics {
  family: string;
  given: string;
  postalCode: string;
  line: string;
  phone: string;
}

// Discovery scores every person on the network: normalise each person (and each query) once, not per comparison.
const normalized = new WeakMap<object, NormalizedDemographics>();
function normalize(d: Partial<Demographics>): NormalizedDemographics {
  let n = normalized.get(d);
  if (!n) {
    n = { family: norm(d.family), given: norm(d.given), postalCode: norm(d.postalCode).slice(0, 5), line: norm(d.line), phone: norm(d.phone).slice(-10) };
    normalized.set(d, n);
  }
  return n;
}

/** The simulator's own (deliberately simple) matcher: a weighted agreement score in [0, 1]. */
export function matchScore(query: Partial<Demographics>, person: Demographics): number {
  let score = 0;
  let total = 0;
  const add = (w: number, agree: boolean | null) => {
    if (agree === null) return;
    total += w;
    if (agree) score += w;
  };
  const q = normalize(query);
  const p = normalize(person);
  add(3, query.family ? q.family === p.family : null);
  add(2, query.given ? q.given === p.given || p.given.startsWith(q.given) : null);
  add(3, query.birthDate ? query.birthDate === person.birthDate : null);
  add(1, query.gender ? query.gender === person.gender : null);
  add(1, query.postalCode ? q.postalCode === p.postalCode : null);
  add(1, query.line ? q.line === p.line : null);
  add(1, query.phone && person.phone ? q.phone === p.phone : null);
  return total === 0 ? 0 : Math.round((score / total) * 1000) / 1000;
}

export const REQUIRED_DEMOGRAPHICS = ['given', 'family', 'birthDate', 'gender', 'line', 'city', 'state', 'postalCode'] as const;

export function missingDemographics(q: Partial<Demographics>): string[] {
  return REQUIRED_DEMOGRAPHICS.filter((k) => !q[k] || String(q[k]).trim() === '');
}
