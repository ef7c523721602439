"""Drives the Python client that openapi-python-client generated from the served document.

Run by crates/cli/tests/contract.rs as
`python python_client.py GENERATED_DIR BASE_URL API_KEY provider=connection_id...`: on every
connection it lists a page of contacts, follows `next_cursor` to the next page, creates a contact,
updates it, gets it back and deletes it, each through the generated functions and models (which
parse every answer by the document's schemas), and prints one JSON line of what it saw.
"""

import json
import sys
import uuid


def main() -> None:
    generated, base_url, api_key, *pairs = sys.argv[1:]
    sys.path.insert(0, generated)
    from crosswalk_client import AuthenticatedClient
    from crosswalk_client.api.unified import (
        create_crm_contact,
        delete_crm_contact,
        get_crm_contact,
        list_crm_contacts,
        update_crm_contact,
    )
    from crosswalk_client.models import Contact, ContactPage, ContactWrite, ContactWritten

    client = AuthenticatedClient(base_url=base_url, token=api_key, raise_on_unexpected_status=True)
    seen = {}
    for pair in pairs:
        provider, connection_id = pair.split("=", 1)

        def expect(response, status, model):
            assert response.status_code == status, (provider, response.status_code, response.content)
            assert isinstance(response.parsed, model), (provider, type(response.parsed), response.content)
            return response.parsed

        first = expect(
            list_crm_contacts.sync_detailed(client=client, connection_id=connection_id, page_size=2),
            200,
            ContactPage,
        )
        assert len(first.results) == 2, (provider, first)
        assert all(isinstance(record, Contact) for record in first.results)
        assert isinstance(first.next_cursor, str), (provider, first.next_cursor)
        second = expect(
            list_crm_contacts.sync_detailed(
                client=client, connection_id=connection_id, page_size=2, cursor=first.next_cursor
            ),
            200,
            ContactPage,
        )
        first_ids = {record.id for record in first.results}
        second_ids = {record.id for record in second.results}
        assert second_ids and not first_ids & second_ids, (provider, first_ids, second_ids)

        address = f"contract-python-{uuid.uuid4().hex[:12]}@example.com"
        body = ContactWrite.from_dict(
            {
                "first_name": "Ada",
                "last_name": "Python",
                "email_addresses": [{"email_address": address, "type": "WORK"}],
            }
        )
        # A write answers the record as read back (`ContactWritten`, with `warnings` when part
        # of it could not be), or only its id (`UnreadWrite`) when nothing could be.
        created = expect(
            create_crm_contact.sync_detailed(client=client, connection_id=connection_id, body=body),
            201,
            ContactWritten,
        )
        assert created.first_name == "Ada" and created.last_name == "Python", (provider, created)
        update = ContactWrite.from_dict({"first_name": "Grace"})
        updated = expect(
            update_crm_contact.sync_detailed(
                created.id, client=client, connection_id=connection_id, body=update
            ),
            200,
            ContactWritten,
        )
        assert updated.first_name == "Grace" and updated.last_name == "Python", (provider, updated)
        fetched = expect(
            get_crm_contact.sync_detailed(created.id, client=client, connection_id=connection_id),
            200,
            Contact,
        )
        assert fetched.id == created.id and fetched.first_name == "Grace", (provider, fetched)
        emails = [entry.email_address for entry in fetched.email_addresses]
        assert address in emails, (provider, emails)
        deleted = delete_crm_contact.sync_detailed(created.id, client=client, connection_id=connection_id)
        assert deleted.status_code == 204, (provider, deleted.status_code, deleted.content)
        seen[provider] = {
            "listed": len(first.results),
            "paged": len(second.results),
            "created": created.id,
            "updated_first_name": updated.first_name,
            "fetched_email": address in emails,
            "deleted": deleted.status_code,
        }
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
