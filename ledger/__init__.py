"""ledger: the estate's tamper-evident, append-only election record (docs/SPEC.md §2).

One log per estate.  Each entry is an RFC 8785 canonical JSON object (``seq``, ``prev``,
``type``, ``time``, ``body``) chained by ``prev`` and hashed into an RFC 6962 / RFC 9162 Merkle
tree (SHA-256, 0x00 leaf and 0x01 node prefixes) whose interior hashes are stored in the layout
of Go's sumdb/tlog, so roots and proofs cost O(log n) reads.  The server signs C2SP
tlog-checkpoint signed notes with its Ed25519 log key after checking consistency with the
previous checkpoint; witnesses add C2SP ``cosignature/v1`` lines.  ``gongjue export`` writes a
bundle that ``gongjue verify`` re-checks from nothing but its files.

Public API (modules):

- ``log``: ``create_log(session, origin) -> Log``, ``get_log(session, origin) -> Log | None``,
  ``append(session, log_id, type, body, time=None) -> Entry`` (``.seq``, ``.leaf_hash``,
  ``.data``), ``size``, ``root``, ``inclusion_proof``, ``consistency_proof``, ``entries``;
- ``checkpoint``: ``sign(session, log_id, key) -> str`` (the signed note), ``latest``,
  ``history``, ``parse_checkpoint``, ``open_checkpoint``, ``add_cosignature``;
- ``keys``: ``log_key() -> LogKey`` (``.vkey``, ``.name``), ``site_name()``;
- ``rotation``: log-key rotation (SPEC §2.4): ``rotate_site(engine, reason)``, the ``log.key``
  entry, ``KeyChain.in_force(size)`` (the key a checkpoint of that size must be signed by);
- ``receipt``: ``build_receipt``, ``verify_receipt``, ``consistency``;
- ``bundle``: ``write_dir``, ``write_zip``; ``verify``: ``verify_bundle(path, *, checks=…)``,
  ``ContentChecks`` (election-content checks, passed explicitly; ``ContentChecks.merge``);
- ``recheck``: ``recheck(session, log_id, start=0, stop=None) -> Finding | None`` (re-hash the
  stored log from its entry bytes: what ``checkpoint.sign`` runs on new entries and ``gongjue
  export`` on the whole log); ``selfcheck``: ``run(engine)``, ``status``, ``problems`` (the
  server's periodic self-check, table ``ledger_selfcheck``);
- ``tree`` (hashing, stored-hash index, proof generation), ``proof`` (RFC 9162 §2.1.3.2 and
  §2.1.4.2 verification), ``note`` (signed notes, vkeys, cosignatures), ``entry`` (encoding).
- ``db``: engine, ``Base``, ``transaction`` (write), ``reading`` (read-only, never the write
  lock), ``migrate`` (shared storage plumbing).
"""
