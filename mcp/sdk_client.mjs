// Drives Crosswalk's MCP server with the official MCP TypeScript SDK (@modelcontextprotocol/sdk),
// for crates/cli/tests/mcp.rs. On each connection's endpoint it lists the tools, checks that the
// connection's own custom contact field is typed in the create tool's input (and no other
// vendor's is), lists two pages, creates a contact with the custom field, updates it and gets it
// back; then the all-connections endpoint, the search mode, the read-only preset, another
// environment's connection (never reachable), and a tool-list change notified to the session.
// On each HRIS connection it lists employees. With keys of other permissions it checks that a
// read-only key is offered (and can call) no write, that only a key allowed to delete gets delete
// tools, and that a key scoped to one connection reaches no other.
// It prints one JSON line of what it saw; the Rust test asserts on it and on the vendor's data.
//
// Input (environment): CROSSWALK_MCP_BASE (http://127.0.0.1:port), CROSSWALK_MCP_KEY (an API
// key), CROSSWALK_MCP_VENDORS (JSON [{provider, connection_id, custom_field}]),
// CROSSWALK_MCP_OTHER (a connection id of another environment), CROSSWALK_MCP_HRIS (JSON
// [{provider, connection_id}]), CROSSWALK_MCP_KEYS (JSON {deleter, reader, scoped}: keys allowed
// to delete, read-only, and scoped to the first vendor's connection).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

const base = process.env.CROSSWALK_MCP_BASE;
const key = process.env.CROSSWALK_MCP_KEY;
const vendors = JSON.parse(process.env.CROSSWALK_MCP_VENDORS);
const other = process.env.CROSSWALK_MCP_OTHER;
const auth = { Authorization: `Bearer ${key}` };
const hrisVendors = JSON.parse(process.env.CROSSWALK_MCP_HRIS ?? '[]');
const keys = JSON.parse(process.env.CROSSWALK_MCP_KEYS ?? '{}');

function check(condition, what, detail) {
  if (!condition) {
    throw new Error(`${what}: ${JSON.stringify(detail)}`);
  }
}

async function connect(path, onListChanged, withKey = key) {
  const client = new Client({ name: 'crosswalk-mcp-test', version: '1.0.0' });
  if (onListChanged) {
    client.setNotificationHandler(ToolListChangedNotificationSchema, onListChanged);
  }
  const transport = new StreamableHTTPClientTransport(new URL(`${base}${path}`), {
    requestInit: { headers: { Authorization: `Bearer ${withKey}` } },
  });
  await client.connect(transport);
  return client;
}

// A value the custom field's schema accepts: its last option, a number, or a text.
function sampleValue(schema) {
  const options = (schema.anyOf ?? [schema]).filter((each) => each.type !== 'null');
  const first = options[0] ?? {};
  if (Array.isArray(first.enum) && first.enum.length > 0) return first.enum[first.enum.length - 1];
  if (first.type === 'number' || first.type === 'integer') return 4242;
  if (first.type === 'boolean') return true;
  // An object-valued field (a money amount): the shape the unified model gives money.
  if (first.type === 'object') return { amount: '4242', currency: 'USD' };
  return `mcp-${Math.random().toString(16).slice(2, 8)}`;
}

async function call(client, name, args) {
  return client.callTool({ name, arguments: args });
}

async function perConnection(vendor) {
  const client = await connect(`/mcp/connections/${vendor.connection_id}`);
  const { tools } = await client.listTools();
  const names = tools.map((tool) => tool.name);
  for (const name of ['crm_contacts_list', 'crm_contacts_get', 'crm_contacts_create', 'crm_contacts_update']) {
    check(names.includes(name), `${vendor.provider} lists ${name}`, names);
  }
  check(!names.some((name) => name.endsWith('_delete')), `${vendor.provider}: no delete tool for this key`, names);
  const byName = Object.fromEntries(tools.map((tool) => [tool.name, tool]));
  check(byName.crm_contacts_list.annotations?.readOnlyHint === true, `${vendor.provider} list is read-only`, byName.crm_contacts_list);
  check(byName.crm_contacts_create.annotations?.readOnlyHint === false, `${vendor.provider} create writes`, byName.crm_contacts_create);
  const custom = byName.crm_contacts_create.inputSchema.properties.custom_fields.properties;
  check(custom[vendor.custom_field] !== undefined, `${vendor.provider}: its custom field in the create input`, Object.keys(custom));
  const foreign = vendors.filter((each) => each.provider !== vendor.provider && custom[each.custom_field] !== undefined);
  check(foreign.length === 0, `${vendor.provider}: no other connection's custom field`, foreign);

  const first = await call(client, 'crm_contacts_list', { page_size: 2 });
  check(!first.isError, `${vendor.provider} list`, first);
  check(first.structuredContent.results.length === 2, `${vendor.provider} page size`, first.structuredContent);
  check(typeof first.structuredContent.next_cursor === 'string', `${vendor.provider} next_cursor`, first.structuredContent);
  check(first.content[0].type === 'text' && first.content[0].text.includes('next page'), `${vendor.provider} text`, first.content);
  const second = await call(client, 'crm_contacts_list', { page_size: 2, cursor: first.structuredContent.next_cursor });
  check(!second.isError, `${vendor.provider} second page`, second);
  const firstIds = new Set(first.structuredContent.results.map((record) => record.id));
  check(
    second.structuredContent.results.length > 0 && second.structuredContent.results.every((record) => !firstIds.has(record.id)),
    `${vendor.provider} pages are disjoint`,
    second.structuredContent,
  );

  // A value the vendor holds for the field on a listed record when there is one (the schema of
  // some fields, a Dynamics picklist, does not say which values the vendor takes), else one the
  // schema accepts.
  const held = [...first.structuredContent.results, ...second.structuredContent.results]
    .map((each) => each.custom_fields?.[vendor.custom_field])
    .find((each) => each !== undefined && each !== null);
  const value = held ?? sampleValue(custom[vendor.custom_field]);
  const address = `mcp-sdk-${Math.random().toString(16).slice(2, 12)}@example.com`;
  const created = await call(client, 'crm_contacts_create', {
    first_name: 'Ada',
    last_name: 'Mcp',
    email_addresses: [{ email_address: address, type: 'WORK' }],
    custom_fields: { [vendor.custom_field]: value },
  });
  check(!created.isError, `${vendor.provider} create`, created);
  const record = created.structuredContent;
  check(record.first_name === 'Ada' && record.warnings === undefined, `${vendor.provider} created`, record);
  const updated = await call(client, 'crm_contacts_update', { id: record.id, first_name: 'Grace' });
  check(!updated.isError && updated.structuredContent.first_name === 'Grace', `${vendor.provider} update`, updated);
  const fetched = await call(client, 'crm_contacts_get', { id: record.id });
  check(!fetched.isError, `${vendor.provider} get`, fetched);
  const emails = fetched.structuredContent.email_addresses.map((entry) => entry.email_address);
  check(fetched.structuredContent.first_name === 'Grace' && emails.includes(address), `${vendor.provider} fetched`, fetched.structuredContent);

  const missing = await call(client, 'crm_contacts_get', { id: vendor.missing_id });
  check(missing.isError === true, `${vendor.provider} a missing contact is a tool error`, missing);
  const wrong = await call(client, 'crm_contacts_list', { page_size: 'many' });
  check(wrong.isError === true && wrong._meta['crosswalk/problem'].field === 'page_size', `${vendor.provider} a bad argument names its field`, wrong);
  await client.close();
  return {
    tools: names.length,
    created: record.id,
    custom_field: vendor.custom_field,
    custom_value: value,
    read_custom_value: fetched.structuredContent.custom_fields[vendor.custom_field] ?? null,
    updated_first_name: fetched.structuredContent.first_name,
    missing_status: missing._meta['crosswalk/problem'].status,
    missing_origin: missing._meta['crosswalk/problem'].origin,
  };
}

async function allConnections() {
  const client = await connect('/mcp');
  const { tools } = await client.listTools();
  const list = tools.find((tool) => tool.name === 'crm_contacts_list');
  const offered = list.inputSchema.properties.connection_id.enum;
  const listed = await call(client, 'connections_list', {});
  const pick = vendors[0];
  const page = await call(client, 'crm_contacts_list', { connection_id: pick.connection_id, page_size: 1 });
  check(!page.isError && page.structuredContent.results.length === 1, 'a page through the all-connections endpoint', page);
  const refused = await call(client, 'crm_contacts_list', { connection_id: other, page_size: 1 });
  await client.close();
  return {
    first_tool: tools[0].name,
    offered: [...offered].sort(),
    listed: listed.structuredContent.results.map((each) => each.id).sort(),
    other_offered: offered.includes(other),
    other_call_is_error: refused.isError === true,
    other_call_status: refused._meta?.['crosswalk/problem']?.status ?? null,
  };
}

async function otherEnvironment() {
  try {
    const client = await connect(`/mcp/connections/${other}`);
    const { tools } = await client.listTools();
    await client.close();
    return { reached: true, tools: tools.length };
  } catch (error) {
    return { reached: false, error: String(error.message ?? error).slice(0, 200) };
  }
}

async function searchMode() {
  const vendor = vendors[0];
  const client = await connect(`/mcp/connections/${vendor.connection_id}?mode=search`);
  const { tools } = await client.listTools();
  const found = await call(client, 'find_tools', { query: 'contacts create' });
  const page = await call(client, 'call_tool', { name: 'crm_contacts_list', arguments: { page_size: 1 } });
  await client.close();
  return {
    tools: tools.map((tool) => tool.name),
    first_found: found.structuredContent.tools[0]?.name ?? null,
    found_has_schema: typeof found.structuredContent.tools[0]?.inputSchema === 'object',
    called_results: page.structuredContent?.results?.length ?? null,
  };
}

async function readOnlyPreset() {
  const vendor = vendors[0];
  const client = await connect(`/mcp/connections/${vendor.connection_id}?preset=read_only`);
  const { tools } = await client.listTools();
  let createRefused = false;
  try {
    const result = await call(client, 'crm_contacts_create', { first_name: 'Nope' });
    createRefused = result.isError === true;
  } catch {
    createRefused = true;
  }
  await client.close();
  return {
    tools: tools.map((tool) => tool.name),
    all_read_only: tools.every((tool) => tool.annotations?.readOnlyHint === true),
    create_refused: createRefused,
  };
}

// A connection override changes a list filter's description: the open session is told its tools
// changed, and lists the new description.
async function listChanged() {
  const vendor = vendors[0];
  let notified;
  const told = new Promise((resolve) => {
    notified = resolve;
  });
  const client = await connect(`/mcp/connections/${vendor.connection_id}`, async () => notified(true));
  const before = await client.listTools();
  const filter = process.env.CROSSWALK_MCP_FILTER;
  const description = `Changed by an override ${Date.now()}`;
  const response = await fetch(`${base}/connections/${vendor.connection_id}/overrides`, {
    method: 'PUT',
    headers: { ...auth, 'Content-Type': 'application/json' },
    body: JSON.stringify({ unified: { 'crm.contacts': { list: { filters: { [filter]: { description } } } } } }),
  });
  check(response.ok, 'the override is stored', await response.text());
  const timeout = new Promise((resolve) => setTimeout(() => resolve(false), 30000));
  const wasTold = await Promise.race([told, timeout]);
  const after = await client.listTools();
  const shown = after.tools.find((tool) => tool.name === 'crm_contacts_list').inputSchema.properties[filter]?.description;
  const beforeShown = before.tools.find((tool) => tool.name === 'crm_contacts_list').inputSchema.properties[filter]?.description;
  await client.close();
  await fetch(`${base}/connections/${vendor.connection_id}/overrides`, { method: 'DELETE', headers: auth });
  return { notified: wasTold, changed: shown === description && beforeShown !== description };
}

// An HRIS connection's employees through `hris_employees_list`: the Rust test compares the page
// with the REST API's (sensitive fields withheld alike).
async function hrisEmployees(vendor) {
  const client = await connect(`/mcp/connections/${vendor.connection_id}`);
  const { tools } = await client.listTools();
  const names = tools.map((tool) => tool.name);
  check(names.includes('hris_employees_list'), `${vendor.provider} lists hris_employees_list`, names);
  const page = await call(client, 'hris_employees_list', { page_size: 5 });
  check(!page.isError, `${vendor.provider} employees`, page);
  await client.close();
  return { tools: names, results: page.structuredContent.results };
}

// A key allowed to delete gets delete tools (destructive) and deletes a contact it made.
async function deletingKey() {
  const vendor = vendors[0];
  const client = await connect(`/mcp/connections/${vendor.connection_id}`, undefined, keys.deleter);
  const { tools } = await client.listTools();
  const remove = tools.find((tool) => tool.name === 'crm_contacts_delete');
  const created = await call(client, 'crm_contacts_create', {
    first_name: 'Brief', last_name: 'Mcp',
    email_addresses: [{ email_address: `mcp-del-${Math.random().toString(16).slice(2, 10)}@example.com`, type: 'WORK' }],
  });
  check(!created.isError, 'the deleting key creates', created);
  const id = created.structuredContent.id;
  const deleted = await call(client, 'crm_contacts_delete', { id });
  const after = await call(client, 'crm_contacts_get', { id });
  await client.close();
  return {
    has_delete_tool: remove !== undefined,
    destructive: remove?.annotations?.destructiveHint ?? null,
    read_only_hint: remove?.annotations?.readOnlyHint ?? null,
    deleted: deleted.isError !== true && deleted.structuredContent?.deleted === true,
    gone_status: after._meta?.['crosswalk/problem']?.status ?? null,
  };
}

// A read-only key: only reading tools, on every endpoint and mode; a write tool named anyway is
// refused.
async function readOnlyKey() {
  const vendor = vendors[0];
  const client = await connect(`/mcp/connections/${vendor.connection_id}`, undefined, keys.reader);
  const { tools } = await client.listTools();
  let createRefused = false;
  try {
    const result = await call(client, 'crm_contacts_create', { first_name: 'Nope' });
    createRefused = result.isError === true;
  } catch {
    createRefused = true;
  }
  const page = await call(client, 'crm_contacts_list', { page_size: 1 });
  await client.close();
  const search = await connect(`/mcp/connections/${vendor.connection_id}?mode=search`, undefined, keys.reader);
  const searchTools = (await search.listTools()).tools;
  const found = await call(search, 'find_tools', { query: 'contacts', limit: 50 });
  const viaSearch = await call(search, 'call_tool', { name: 'crm_contacts_update', arguments: { id: '1', first_name: 'Nope' } });
  await search.close();
  const all = await connect('/mcp', undefined, keys.reader);
  const allTools = (await all.listTools()).tools;
  await all.close();
  return {
    tools: tools.map((tool) => tool.name),
    all_read_only: [...tools, ...allTools].every((tool) => tool.annotations?.readOnlyHint === true),
    create_refused: createRefused,
    reads: !page.isError && page.structuredContent.results.length === 1,
    call_tool_read_only: searchTools.find((tool) => tool.name === 'call_tool')?.annotations?.readOnlyHint ?? null,
    found: found.structuredContent.tools.map((tool) => tool.name),
    search_update_refused: viaSearch.isError === true,
  };
}

// A key scoped to the first vendor's connection: the all-connections endpoint offers only it,
// another connection of the same environment is refused by name and by URL.
async function scopedKey() {
  const mine = vendors[0];
  const notMine = vendors[1];
  const client = await connect('/mcp', undefined, keys.scoped);
  const { tools } = await client.listTools();
  const offered = tools.find((tool) => tool.name === 'crm_contacts_list').inputSchema.properties.connection_id.enum;
  const listed = await call(client, 'connections_list', {});
  const own = await call(client, 'crm_contacts_list', { connection_id: mine.connection_id, page_size: 1 });
  const refused = await call(client, 'crm_contacts_list', { connection_id: notMine.connection_id, page_size: 1 });
  await client.close();
  let reached;
  try {
    const other = await connect(`/mcp/connections/${notMine.connection_id}`, undefined, keys.scoped);
    await other.listTools();
    await other.close();
    reached = true;
  } catch (error) {
    reached = String(error.message ?? error).includes('404') ? false : String(error.message ?? error).slice(0, 200);
  }
  return {
    offered,
    listed: listed.structuredContent.results.map((each) => each.id),
    own_reads: !own.isError && own.structuredContent.results.length === 1,
    other_call_status: refused._meta?.['crosswalk/problem']?.status ?? null,
    other_endpoint_reached: reached,
  };
}

async function main() {
  const seen = { vendors: {} };
  for (const vendor of vendors) {
    seen.vendors[vendor.provider] = await perConnection(vendor);
  }
  seen.all = await allConnections();
  seen.other_environment = await otherEnvironment();
  seen.search = await searchMode();
  seen.read_only = await readOnlyPreset();
  seen.list_changed = await listChanged();
  seen.hris = {};
  for (const vendor of hrisVendors) {
    seen.hris[vendor.provider] = await hrisEmployees(vendor);
  }
  seen.deleting_key = await deletingKey();
  seen.read_only_key = await readOnlyKey();
  seen.scoped_key = await scopedKey();
  console.log(JSON.stringify(seen));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
