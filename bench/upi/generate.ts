// Synthetic US person records with known duplicates and corruptions, reproducible from a seed.
// Used by the UPI tests and bench to check the engine on data it was not tuned on: typos,
// nicknames, swapped names, date transpositions, missing values, address format variants,
// moves, plus hard negatives (twins, newborns "Baby Boy A/B", households, Jr/Sr, namesakes).
import { seededRandom } from '../../src/upi/engine/estimate.ts';
import type { PersonInput } from '../../src/upi/engine/normalize.ts';

const MALE = 'james john robert michael william david richard joseph thomas charles christopher daniel matthew anthony mark donald steven paul andrew joshua kenneth kevin brian george timothy ronald edward jason jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin scott brandon benjamin samuel gregory alexander frank patrick raymond jack dennis jerry tyler aaron jose adam nathan henry douglas zachary peter kyle ethan walter noah jeremy christian keith roger terry gerald harold sean austin carl arthur lawrence dylan jesse jordan bryan billy joe bruce gabriel logan albert willie alan juan wayne elijah randy roy vincent ralph eugene russell bobby mason philip louis'.split(' ');
const FEMALE = 'mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy betty margaret sandra ashley kimberly emily donna michelle carol amanda dorothy melissa deborah stephanie rebecca sharon laura cynthia kathleen amy angela shirley anna brenda pamela emma nicole helen samantha katherine christine debra rachel carolyn janet catherine maria heather diane ruth julie olivia joyce virginia victoria kelly lauren christina joan evelyn judith megan andrea cheryl hannah jacqueline martha gloria teresa ann sara madison frances kathryn janice jean abigail alice judy sophia grace denise amber doris marilyn danielle beverly isabella theresa diana natalie brittany charlotte marie kayla alexis lori'.split(' ');
const SURNAMES = 'smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson white harris sanchez clark ramirez lewis robinson walker young allen king wright scott torres nguyen hill flores green adams nelson baker hall rivera campbell mitchell carter roberts gomez phillips evans turner diaz parker cruz edwards collins reyes stewart morris morales murphy cook rogers gutierrez ortiz morgan cooper peterson bailey reed kelly howard ramos kim cox ward richardson watson brooks chavez wood james bennett gray mendoza ruiz hughes price alvarez castillo sanders patel myers long ross foster jimenez powell jenkins perry russell sullivan bell coleman butler henderson barnes gonzales fisher vasquez simmons romero jordan patterson alexander hamilton graham reynolds griffin wallace moreno west cole hayes bryant herrera gibson ellis tran medina aguilar stevens murray ford castro marshall owens harrison fernandez mcdonald woods washington kennedy wells vargas henry chen freeman webb tucker guzman burns crawford olson simpson porter hunter gordon mendez silva shaw snyder mason dixon munoz hunt hicks holmes palmer wagner black robertson boyd rose stone salazar fox warren mills meyer rice schmidt garza daniels ferguson nichols stephens soto weaver ryan gardner payne grant dunn kelley spencer hawkins arnold pierce vazquez hansen peters santos hart bradley knight elliott cunningham duncan armstrong hudson carroll lane riley andrews alvarado ray delgado berry perkins hoffman johnston matthews pena richards contreras willis carpenter lawrence sandoval oconnor obrien dela-cruz garcia-lopez mcallister vanderberg'.split(' ');
const STREETS = 'main oak pine maple cedar elm washington lake hill park walnut sunset lincoln jackson church river highland forest jefferson center spring franklin madison meadow willow ridge chestnut adams dogwood cherry valley mill north lakeview broad locust birch hickory wilson grove college union'.split(' ');
const SUFFIXES: [string, string][] = [['Street', 'St'], ['Avenue', 'Ave'], ['Road', 'Rd'], ['Drive', 'Dr'], ['Lane', 'Ln'], ['Court', 'Ct'], ['Boulevard', 'Blvd'], ['Place', 'Pl'], ['Circle', 'Cir'], ['Terrace', 'Ter'], ['Parkway', 'Pkwy'], ['Way', 'Way']];
const CITIES: [string, string, string][] = [
  ['Springfield', 'IL', '627'], ['Columbus', 'OH', '432'], ['Austin', 'TX', '787'], ['Denver', 'CO', '802'], ['Portland', 'OR', '972'], ['Madison', 'WI', '537'],
  ['Raleigh', 'NC', '276'], ['Tucson', 'AZ', '857'], ['Omaha', 'NE', '681'], ['Boise', 'ID', '837'], ['Albany', 'NY', '122'], ['Richmond', 'VA', '232'],
  ['Fresno', 'CA', '937'], ['Mesa', 'AZ', '852'], ['Tulsa', 'OK', '741'], ['Wichita', 'KS', '672'], ['Toledo', 'OH', '436'], ['Reno', 'NV', '895'],
  ['Lexington', 'KY', '405'], ['Anchorage', 'AK', '995'], ['Durham', 'NC', '277'], ['Lubbock', 'TX', '794'], ['Spokane', 'WA', '992'], ['Savannah', 'GA', '314'],
  ['Houston', 'TX', '770'], ['Chicago', 'IL', '606'], ['Phoenix', 'AZ', '850'], ['Philadelphia', 'PA', '191'], ['San Antonio', 'TX', '782'], ['San Diego', 'CA', '921'],
];
const DOMAINS = ['gmail.com', 'yahoo.com', 'outlook.com', 'hotmail.com', 'aol.com', 'icloud.com', 'comcast.net', 'proton.me'];
const NICKNAMES: Record<string, string[]> = {
  robert: ['bob', 'rob', 'bobby'], william: ['bill', 'will', 'billy'], richard: ['dick', 'rick', 'rich'], james: ['jim', 'jimmy'], john: ['jack', 'johnny'],
  michael: ['mike', 'mikey'], joseph: ['joe', 'joey'], thomas: ['tom', 'tommy'], charles: ['charlie', 'chuck'], christopher: ['chris'], daniel: ['dan', 'danny'],
  matthew: ['matt'], anthony: ['tony'], steven: ['steve'], andrew: ['andy', 'drew'], joshua: ['josh'], kenneth: ['ken', 'kenny'], edward: ['ed', 'eddie', 'ted'],
  margaret: ['peggy', 'maggie', 'meg'], elizabeth: ['liz', 'beth', 'betty'], patricia: ['pat', 'patty', 'trish'], jennifer: ['jen', 'jenny'], susan: ['sue', 'susie'],
  katherine: ['kate', 'kathy', 'katie'], deborah: ['debbie', 'deb'], rebecca: ['becky'], samantha: ['sam'], victoria: ['vicky', 'tori'], abigail: ['abby'],
  alexander: ['alex'], benjamin: ['ben'], samuel: ['sam'], nicholas: ['nick'], timothy: ['tim'], gregory: ['greg'], lawrence: ['larry'], ronald: ['ron'],
  donald: ['don'], gerald: ['jerry'], raymond: ['ray'], jacqueline: ['jackie'], dorothy: ['dot', 'dottie'], barbara: ['barb'], pamela: ['pam'], cynthia: ['cindy'],
};

export interface SyntheticData {
  records: PersonInput[];
  /** True person id per record. */
  truth: string[];
  ids: string[];
}

export interface GenerateOptions {
  /** Number of records to produce. */
  records: number;
  seed?: number;
  /** Share of persons with duplicate records (default 0.35). */
  duplicateRate?: number;
}

export function generatePeople(options: GenerateOptions): SyntheticData {
  const random = seededRandom(options.seed ?? 1);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  // Zipf-like skew so common names are common (namesakes are realistic hard negatives).
  const pickSkewed = <T>(list: readonly T[]): T => list[Math.floor(list.length * random() ** 1.3)]!;
  const chance = (p: number): boolean => random() < p;
  const digits = (n: number): string => Array.from({ length: n }, () => Math.floor(random() * 10)).join('');
  const dupRate = options.duplicateRate ?? 0.35;
  const records: PersonInput[] = [];
  const truth: string[] = [];
  let personSeq = 0;

  interface Person { given: string; middle: string; family: string; sex: 'male' | 'female'; birth: [number, number, number]; house: string; street: string; suffix: [string, string]; unit: string; city: [string, string, string]; zip: string; zip4: string; phone: string; email: string; ssn: string; mrn: string }

  const ymd = (b: [number, number, number]): string => `${b[0]}-${String(b[1]).padStart(2, '0')}-${String(b[2]).padStart(2, '0')}`;
  const newPerson = (base?: Partial<Person>): Person => {
    const sex = base?.sex ?? (chance(0.5) ? 'male' : 'female');
    const given = base?.given ?? pickSkewed(sex === 'male' ? MALE : FEMALE);
    const family = base?.family ?? pickSkewed(SURNAMES);
    const city = base?.city ?? pick(CITIES);
    const birth = base?.birth ?? [1930 + Math.floor(random() * 94), 1 + Math.floor(random() * 12), 1 + Math.floor(random() * 28)];
    return {
      given, family, sex, birth,
      middle: base?.middle ?? (chance(0.5) ? pick(sex === 'male' ? MALE : FEMALE) : ''),
      house: base?.house ?? String(1 + Math.floor(random() * 9899)),
      street: base?.street ?? pick(STREETS),
      suffix: base?.suffix ?? pick(SUFFIXES),
      unit: base?.unit ?? (chance(0.2) ? `${1 + Math.floor(random() * 30)}${chance(0.4) ? pick(['A', 'B', 'C']) : ''}` : ''),
      city,
      zip: base?.zip ?? city[2] + digits(2),
      zip4: base?.zip4 ?? digits(4),
      phone: base?.phone ?? `${pick(['212', '312', '415', '503', '512', '602', '614', '713', '720', '919'])}${2 + Math.floor(random() * 7)}${digits(2)}${digits(4)}`,
      email: base?.email ?? `${given}${pick(['.', '_', ''])}${family.replace(/[^a-z]/g, '')}${digits(3)}@${pick(DOMAINS)}`,
      ssn: base?.ssn ?? `${String(1 + Math.floor(random() * 665)).padStart(3, '0')}${String(1 + Math.floor(random() * 98)).padStart(2, '0')}${String(1 + Math.floor(random() * 9998)).padStart(4, '0')}`,
      mrn: `${digits(7)}`,
    };
  };

  const typo = (s: string): string => {
    if (s.length < 3) return s;
    const i = 1 + Math.floor(random() * (s.length - 2));
    const letter = String.fromCharCode(97 + Math.floor(random() * 26));
    switch (Math.floor(random() * 4)) {
      case 0: return s.slice(0, i) + s.slice(i + 1); // deletion
      case 1: return s.slice(0, i) + letter + s.slice(i); // insertion
      case 2: return s.slice(0, i) + letter + s.slice(i + 1); // substitution
      default: return s.slice(0, i - 1) + s[i] + s[i - 1] + s.slice(i + 1); // transposition
    }
  };
  const cap = (s: string): string => s.replace(/(^|[\s-])([a-z])/g, (_, p: string, c: string) => p + c.toUpperCase());

  /** One record of a person, with the corruptions a registration desk produces. */
  const emit = (p: Person, pid: string, corrupt: boolean): void => {
    let given = p.given;
    let family = p.family;
    let birth = ymd(p.birth);
    let line = `${p.house} ${cap(p.street)} ${p.suffix[0]}${p.unit ? ` Apt ${p.unit}` : ''}`;
    let zip = p.zip;
    let phone = `(${p.phone.slice(0, 3)}) ${p.phone.slice(3, 6)}-${p.phone.slice(6)}`;
    let email = p.email;
    let ssn: string | undefined = `${p.ssn.slice(0, 3)}-${p.ssn.slice(3, 5)}-${p.ssn.slice(5)}`;
    let city = p.city[0];
    if (corrupt) {
      if (chance(0.12)) given = typo(given);
      else if (chance(0.12) && NICKNAMES[given]) given = pick(NICKNAMES[given]!);
      else if (chance(0.05)) given = given[0]!;
      if (chance(0.1)) family = typo(family);
      else if (chance(0.03) && family.includes('-')) family = family.split('-')[0]!;
      if (chance(0.04)) [given, family] = [family, given];
      const r = random();
      if (r < 0.04) birth = ymd([p.birth[0], p.birth[2] <= 12 ? p.birth[2] : p.birth[1], p.birth[2] <= 12 ? p.birth[1] : p.birth[2]]);
      else if (r < 0.08) {
        const d = birth.replace(/-/g, '');
        const i = Math.floor(random() * 7);
        const swapped = d.slice(0, i) + d[i + 1] + d[i] + d.slice(i + 2);
        birth = swapped.slice(0, 4) + '-' + swapped.slice(4, 6) + '-' + swapped.slice(6);
      } else if (r < 0.11) birth = ymd([p.birth[0], p.birth[1], Math.min(28, p.birth[2] + 1)]);
      if (chance(0.5)) line = line.replace(p.suffix[0], p.suffix[1]);
      if (chance(0.3)) line = line.replace(' Apt ', ' #');
      if (chance(0.08)) line = typo(line);
      if (chance(0.3)) zip = `${p.zip}-${p.zip4}`;
      if (chance(0.4)) phone = `+1 ${p.phone.slice(0, 3)}.${p.phone.slice(3, 6)}.${p.phone.slice(6)}`;
      if (chance(0.03)) phone = typo(phone);
      if (chance(0.3)) email = email.toUpperCase();
      if (chance(0.03)) city = typo(city);
      if (chance(0.08)) { // moved
        const moved = newPerson({ given: p.given, family: p.family, sex: p.sex, birth: p.birth });
        line = `${moved.house} ${cap(moved.street)} ${moved.suffix[1]}`;
        city = moved.city[0];
        zip = moved.zip;
        if (chance(0.5)) phone = moved.phone;
      }
      if (chance(0.02)) ssn = typo(ssn.replace(/-/g, ''));
    }
    const missing = (p0: number): boolean => corrupt && chance(p0);
    records.push({
      given: cap(p.middle && chance(0.2) ? `${given} ${cap(p.middle)}` : given),
      family: cap(family),
      birthDate: missing(0.03) ? '' : chance(0.3) ? birth.replace(/-/g, '') : birth,
      sex: missing(0.1) ? '' : chance(0.5) ? p.sex : p.sex[0]!.toUpperCase(),
      line: missing(0.15) ? '' : line,
      city: missing(0.1) ? '' : city,
      state: missing(0.1) ? '' : p.city[1],
      postalCode: missing(0.1) ? '' : zip,
      phone: missing(0.25) || chance(0.2) ? (chance(0.3) ? '555-555-0100' : '') : phone,
      email: missing(0.35) || chance(0.3) ? (chance(0.2) ? 'noemail@example.com' : '') : email,
      ssn: missing(0.5) || chance(0.4) ? (chance(0.2) ? '999-99-9999' : '') : ssn,
      // Each registration gets its own MRN in one of a few clinics' systems.
      mrn: digits(7),
      mrnSystem: `urn:clinic:${Math.floor(random() * 5)}`,
    });
    truth.push(pid);
  };

  while (records.length < options.records) {
    const pid = `p${personSeq++}`;
    const kind = random();
    if (kind < 0.02) {
      // Twins: same family, birth date, address, phone; different first names.
      const a = newPerson();
      const b = newPerson({ ...a, given: undefined, middle: undefined, email: undefined, ssn: undefined, sex: chance(0.5) ? a.sex : undefined });
      if (b.given === a.given) continue;
      emit(a, pid, false);
      emit(b, `p${personSeq++}`, false);
      if (chance(0.5)) emit(b, `p${personSeq - 1}`, true);
      continue;
    }
    if (kind < 0.03) {
      // Newborn twins registered as "Baby Boy A" / "Baby Boy B" (or Baby Girl).
      const mother = newPerson({ sex: 'female' });
      const birth: [number, number, number] = [2023, 1 + Math.floor(random() * 12), 1 + Math.floor(random() * 28)];
      const label = chance(0.5) ? 'Baby Boy' : 'Baby Girl';
      for (const order of ['A', 'B']) {
        const baby = { ...newPerson({ ...mother, birth, given: 'x', middle: '', ssn: undefined, email: undefined }) };
        records.push({ given: `${label} ${order}`, family: cap(mother.family), birthDate: ymd(birth), sex: label === 'Baby Boy' ? 'male' : 'female', line: `${mother.house} ${cap(mother.street)} ${mother.suffix[1]}`, city: mother.city[0], state: mother.city[1], postalCode: mother.zip, phone: mother.phone, mrn: baby.mrn, mrnSystem: 'urn:hospital' });
        truth.push(`p${personSeq++}`);
      }
      continue;
    }
    if (kind < 0.06) {
      // Household: spouse / parent / child share address, phone and often the surname.
      const a = newPerson();
      const other = newPerson({ given: pickSkewed((chance(0.5) ? MALE : FEMALE).filter((g) => g !== a.given)), family: a.family, house: a.house, street: a.street, suffix: a.suffix, unit: a.unit, city: a.city, zip: a.zip, zip4: a.zip4, phone: a.phone, email: chance(0.5) ? a.email : undefined });
      emit(a, pid, false);
      emit(other, `p${personSeq++}`, false);
      continue;
    }
    if (kind < 0.07) {
      // Junior / Senior: same name and address, birth dates a generation apart.
      const sr = newPerson({ sex: 'male', birth: [1930 + Math.floor(random() * 65), 1 + Math.floor(random() * 12), 1 + Math.floor(random() * 28)] });
      const jr = newPerson({ ...sr, birth: [Math.min(2023, sr.birth[0] + 20 + Math.floor(random() * 15)), 1 + Math.floor(random() * 12), 1 + Math.floor(random() * 28)], ssn: undefined, email: undefined, middle: undefined });
      emit(sr, pid, false);
      emit(jr, `p${personSeq++}`, false);
      continue;
    }
    const person = newPerson();
    emit(person, pid, false);
    if (chance(dupRate)) {
      const copies = 1 + Math.floor(-Math.log(1 - random()) * 1.2);
      for (let c = 0; c < Math.min(copies, 6); c++) emit(person, pid, true);
    }
  }
  records.length = options.records;
  truth.length = options.records;
  return { records, truth, ids: records.map((_, i) => `r${i + 1}`) };
}
