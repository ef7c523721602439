// Drives the TypeScript client that @hey-api/openapi-ts generated from the served document.
//
// crates/cli/tests/contract.rs copies this file beside the generated client (`generated/`),
// compiles both with typescript (strict) and runs
// `node ts_client.js BASE_URL API_KEY provider=connection_id...`: on every connection it lists a
// page of contacts, follows `next_cursor` to the next page, creates a contact, updates it, gets it
// back and deletes it through the generated functions and types, and prints one JSON line of what
// it saw. Any failure throws, so node exits non-zero.

import { client } from './generated/client.gen';
import {
  createCrmContact,
  deleteCrmContact,
  getCrmContact,
  listCrmContacts,
  updateCrmContact,
} from './generated/sdk.gen';
import type { Contact, ContactPage, ContactWrite, ContactWritten, UnreadWrite } from './generated/types.gen';

// The two things of Node.js this script uses (no @types/node needed).
declare const process: { argv: string[]; exit(code: number): never };

function check(condition: boolean, what: string, detail: unknown): void {
  if (!condition) {
    throw new Error(`${what}: ${JSON.stringify(detail)}`);
  }
}

// A write's answer is the record (with `warnings` when part of it could not be read back) or,
// when nothing could be read back, only its id: this tells the two apart.
function readBack(written: ContactWritten | UnreadWrite): written is ContactWritten {
  return 'created_at' in written;
}

async function main(): Promise<void> {
  const [baseUrl, apiKey, ...pairs] = process.argv.slice(2);
  client.setConfig({ baseUrl, auth: () => apiKey });
  const seen: Record<string, unknown> = {};
  for (const pair of pairs) {
    const [provider, connectionId] = pair.split('=', 2);
    const first = await listCrmContacts({ query: { connection_id: connectionId, page_size: 2 } });
    check(first.response.status === 200, `${provider} list`, first.error);
    const firstPage: ContactPage = first.data!;
    check(firstPage.results.length === 2, `${provider} page size`, firstPage);
    check(typeof firstPage.next_cursor === 'string', `${provider} next_cursor`, firstPage);
    const second = await listCrmContacts({
      query: { connection_id: connectionId, page_size: 2, cursor: firstPage.next_cursor! },
    });
    check(second.response.status === 200, `${provider} second page`, second.error);
    const firstIds = new Set(firstPage.results.map((record: Contact) => record.id));
    const secondPage: ContactPage = second.data!;
    check(
      secondPage.results.length > 0 && secondPage.results.every((record) => !firstIds.has(record.id)),
      `${provider} pages are disjoint`,
      { first: [...firstIds], second: secondPage.results.map((record) => record.id) },
    );

    const address = `contract-ts-${Math.random().toString(16).slice(2, 14)}@example.com`;
    const body: ContactWrite = {
      first_name: 'Ada',
      last_name: 'Typescript',
      email_addresses: [{ email_address: address, type: 'WORK' }],
    };
    const created = await createCrmContact({ query: { connection_id: connectionId }, body });
    check(created.response.status === 201, `${provider} create`, created.error);
    const written = created.data!;
    check(readBack(written) && written.warnings === undefined, `${provider} read back`, written);
    const record: Contact = written as ContactWritten;
    check(record.first_name === 'Ada' && record.last_name === 'Typescript', `${provider} created`, record);
    const updated = await updateCrmContact({
      path: { id: record.id },
      query: { connection_id: connectionId },
      body: { first_name: 'Grace' },
    });
    check(updated.response.status === 200, `${provider} update`, updated.error);
    const rewritten = updated.data!;
    check(readBack(rewritten) && rewritten.first_name === 'Grace', `${provider} updated`, rewritten);
    const fetched = await getCrmContact({ path: { id: record.id }, query: { connection_id: connectionId } });
    check(fetched.response.status === 200, `${provider} get`, fetched.error);
    const emails = fetched.data!.email_addresses.map((entry) => entry.email_address);
    check(
      fetched.data!.id === record.id && fetched.data!.first_name === 'Grace' && emails.includes(address),
      `${provider} fetched`,
      fetched.data,
    );
    const deleted = await deleteCrmContact({ path: { id: record.id }, query: { connection_id: connectionId } });
    check(deleted.response.status === 204, `${provider} delete`, deleted.error);
    seen[provider] = {
      listed: firstPage.results.length,
      paged: secondPage.results.length,
      created: record.id,
      updated_first_name: (rewritten as ContactWritten).first_name,
      fetched_email: emails.includes(address),
      deleted: deleted.response.status,
    };
  }
  console.log(JSON.stringify(seen));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
