// JavaScript stand-ins for Crosswalk's native mapping functions (crates/mapping/src/native/),
// so that jsonata-js can run connector mappings in the benchmarks. They follow
// docs/mapping-functions.md closely enough to time the same work; where they are
// approximations ($e164 without phone metadata, $decimal beyond 20 decimals, $regionOf with a short table, $formatDate with
// the usual strftime specifiers), the benchmarks count the records on which both engines agree
// rather than assume it.

'use strict';

function isEmpty(value) {
  return value === undefined || value === null || value === '';
}

function parseMillis(value) {
  if (isEmpty(value)) return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? Math.round(value) : undefined;
  if (typeof value !== 'string') return undefined;
  let text = value.trim();
  if (text === '') return undefined;
  if (/^-?\d+(\.\d+)?$/.test(text)) return Math.round(Number(text));
  // Offsets without a colon (Salesforce's `+0000`) become `+00:00`.
  text = text.replace(/([+-]\d{2})(\d{2})$/, '$1:$2');
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) text += 'T00:00:00Z';
  else if (/^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text)) text = text.replace(' ', 'T') + 'Z';
  const millis = Date.parse(text);
  return Number.isFinite(millis) ? millis : undefined;
}

function parseDate(value) {
  const millis = parseMillis(value);
  if (millis === undefined) return undefined;
  // Like chrono's AutoSi: no fraction when the milliseconds are zero.
  return new Date(millis).toISOString().replace('.000Z', 'Z');
}

function toEpochMs(value) {
  return parseMillis(value);
}

function fromEpochMs(value) {
  let millis;
  if (typeof value === 'number') millis = value;
  else if (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value.trim())) millis = Number(value.trim());
  if (millis === undefined || !Number.isFinite(millis)) return undefined;
  return new Date(Math.round(millis)).toISOString();
}

function pad(n, width) {
  return String(n).padStart(width, '0');
}

function formatDate(value, format) {
  const millis = parseMillis(value);
  if (millis === undefined || typeof format !== 'string') return undefined;
  const d = new Date(millis);
  return format.replace(/%(\.3f|[YmdHMSFTzZsLjy%])/g, (_, spec) => {
    switch (spec) {
      case 'Y': return pad(d.getUTCFullYear(), 4);
      case 'y': return pad(d.getUTCFullYear() % 100, 2);
      case 'm': return pad(d.getUTCMonth() + 1, 2);
      case 'd': return pad(d.getUTCDate(), 2);
      case 'H': return pad(d.getUTCHours(), 2);
      case 'M': return pad(d.getUTCMinutes(), 2);
      case 'S': return pad(d.getUTCSeconds(), 2);
      case '.3f': return '.' + pad(d.getUTCMilliseconds(), 3);
      case 'F': return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}`;
      case 'T': return `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`;
      case 'z': return '+0000';
      case 'Z': return 'UTC';
      case 's': return String(Math.floor(millis / 1000));
      case '%': return '%';
      default: return spec;
    }
  });
}

function removeEmpty(value) {
  if (value === null || value === undefined || value === '') return undefined;
  if (Array.isArray(value)) {
    const kept = value.map(removeEmpty).filter((item) => item !== undefined);
    return kept.length ? kept : undefined;
  }
  if (typeof value === 'object') {
    const kept = {};
    let any = false;
    for (const [key, field] of Object.entries(value)) {
      const pruned = removeEmpty(field);
      if (pruned !== undefined) {
        kept[key] = pruned;
        any = true;
      }
    }
    return any ? kept : undefined;
  }
  return value;
}

function firstNonEmpty(...args) {
  return args.find((value) => !isEmpty(value));
}

function toNumber(value) {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return undefined;
  const text = value.trim().replace(/,/g, '');
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return undefined;
  return Number(text);
}

// A number written in full, without an exponent (an approximation beyond 20 decimals).
function numberInFull(number) {
  if (!Number.isFinite(number)) return undefined;
  if (Math.abs(number) >= 1e-6 && Math.abs(number) < 1e21) return String(number);
  return number.toLocaleString('en-US', { useGrouping: false, maximumFractionDigits: 20 });
}

function decimal(value) {
  if (typeof value === 'number') return numberInFull(value);
  if (typeof value !== 'string') return undefined;
  const text = value.trim().replace(/,/g, '');
  if (/^[-+]?(\d+\.?\d*|\.\d+)$/.test(text)) return text.replace(/^\+/, '');
  const number = toNumber(text);
  return number === undefined ? undefined : numberInFull(number);
}

function toInteger(value) {
  const number = toNumber(value);
  return number === undefined ? undefined : Math.trunc(number);
}

function toBoolean(value) {
  if (typeof value === 'boolean') return value;
  if (value === 1) return true;
  if (value === 0) return false;
  if (typeof value !== 'string') return undefined;
  const text = value.trim().toLowerCase();
  if (['true', 'yes', '1'].includes(text)) return true;
  if (['false', 'no', '0'].includes(text)) return false;
  return undefined;
}

function mapValue(value, table, fallback) {
  if (value === undefined || value === null || typeof table !== 'object' || table === null) return fallback;
  const key = typeof value === 'string' ? value : JSON.stringify(value);
  return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : fallback;
}

const COUNTRY_CODES = {
  US: '1', CA: '1', GB: '44', IE: '353', FR: '33', DE: '49', ES: '34', IT: '39', NL: '31', BE: '32',
  CH: '41', AT: '43', SE: '46', NO: '47', DK: '45', FI: '358', PT: '351', PL: '48', AU: '61',
  NZ: '64', JP: '81', IN: '91', BR: '55', MX: '52', SG: '65', ZA: '27',
};

function e164(phone, region) {
  if (isEmpty(phone)) return undefined;
  const text = String(phone).trim();
  let digits = text.replace(/[^0-9]/g, '');
  if (text.startsWith('+')) return digits.length >= 8 && digits.length <= 15 ? '+' + digits : undefined;
  if (text.startsWith('00')) return '+' + digits.slice(2);
  const code = COUNTRY_CODES[String(region || '').toUpperCase()];
  if (!code) return undefined;
  if (code === '1') {
    if (digits.length === 11 && digits[0] === '1') digits = digits.slice(1);
    return digits.length === 10 ? '+1' + digits : undefined;
  }
  if (digits.startsWith('0')) digits = digits.slice(1);
  return digits.length >= 6 ? '+' + code + digits : undefined;
}

const REGIONS = {
  us: 'US', usa: 'US', 'united states': 'US', 'united states of america': 'US', 'u.s.': 'US', 'u.s.a.': 'US',
  gb: 'GB', gbr: 'GB', uk: 'GB', 'united kingdom': 'GB', 'great britain': 'GB', england: 'GB',
  ca: 'CA', can: 'CA', canada: 'CA', fr: 'FR', fra: 'FR', france: 'FR', de: 'DE', deu: 'DE',
  germany: 'DE', es: 'ES', esp: 'ES', spain: 'ES', it: 'IT', ita: 'IT', italy: 'IT', nl: 'NL',
  nld: 'NL', netherlands: 'NL', ie: 'IE', irl: 'IE', ireland: 'IE', au: 'AU', aus: 'AU',
  australia: 'AU', mx: 'MX', mex: 'MX', mexico: 'MX', 'méxico': 'MX', br: 'BR', bra: 'BR', brazil: 'BR',
  jp: 'JP', jpn: 'JP', japan: 'JP', in: 'IN', ind: 'IN', india: 'IN',
};

function regionOf(country) {
  if (isEmpty(country) || typeof country !== 'string') return undefined;
  return REGIONS[country.trim().toLowerCase()];
}

function soqlEscape(value) {
  if (value === undefined || value === null) return undefined;
  return String(value).replace(/[\\'"]/g, (c) => '\\' + c).replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
}

function odataEscape(value) {
  if (value === undefined || value === null) return undefined;
  return String(value).replace(/'/g, "''");
}

function splitName(full) {
  if (isEmpty(full) || typeof full !== 'string') return undefined;
  const text = full.trim();
  if (text.includes(',')) {
    const [last, first] = text.split(',', 2).map((part) => part.trim());
    return { first, last };
  }
  const at = text.lastIndexOf(' ');
  return at === -1 ? { first: text } : { first: text.slice(0, at), last: text.slice(at + 1) };
}

function chunk(array, size) {
  if (!Array.isArray(array)) return undefined;
  const out = [];
  for (let i = 0; i < array.length; i += size) out.push(array.slice(i, i + size));
  return out;
}

// name, function, JSONata signature (as crates/mapping/src/native/mod.rs gives them).
const NATIVES = [
  ['parseDate', parseDate, '<j-s?:s>'],
  ['toEpochMs', toEpochMs, '<j-:n>'],
  ['fromEpochMs', fromEpochMs, '<j-:s>'],
  ['formatDate', formatDate, '<j-s:s>'],
  ['removeEmpty', removeEmpty, '<j-:j>'],
  ['firstNonEmpty', firstNonEmpty, undefined],
  ['toNumber', toNumber, '<j-:n>'],
  ['toInteger', toInteger, '<j-:n>'],
  ['decimal', decimal, '<j-:s>'],
  ['toBoolean', toBoolean, '<j-:b>'],
  ['mapValue', mapValue, '<j-oj?:j>'],
  ['e164', e164, '<j-s?:s>'],
  ['regionOf', regionOf, '<j-:s>'],
  ['soqlEscape', soqlEscape, '<j-:s>'],
  ['odataEscape', odataEscape, '<j-:s>'],
  ['splitName', splitName, '<j-:o>'],
  ['chunk', chunk, '<a-n:a>'],
];

function registerNatives(expression) {
  for (const [name, implementation, signature] of NATIVES) {
    expression.registerFunction(name, implementation, signature);
  }
}

module.exports = { registerNatives, parseDate, removeEmpty };
