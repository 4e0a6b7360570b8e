-- Version numbers are never reused within a template: version_seq is the
-- highest number the template has ever given a version, including drafts
-- that were discarded since, so that an audit entry "draft_discarded v2"
-- never comes to point at a later, different v2. The store numbers a new
-- version max(version_seq, highest existing number) + 1, under the
-- template's row lock, so two saves racing still get distinct numbers.
--
-- Existing templates start from their highest version, or from the highest
-- discarded draft the audit log names (target "template:<key>/v<n>"; keys
-- hold no "/"), whichever is larger.

-- +goose Up
ALTER TABLE templates ADD COLUMN version_seq integer NOT NULL DEFAULT 0 CHECK (version_seq >= 0);

UPDATE templates SET version_seq = GREATEST(
    (SELECT COALESCE(MAX(v.number), 0) FROM template_versions v WHERE v.template_id = templates.id),
    (SELECT COALESCE(MAX(CAST(substr(a.target, length('template:' || templates.key || '/v') + 1) AS integer)), 0)
       FROM audit_log a
      WHERE a.action = 'draft_discarded'
        AND substr(a.target, 1, length('template:' || templates.key || '/v')) = 'template:' || templates.key || '/v')
);

-- +goose Down
ALTER TABLE templates DROP COLUMN version_seq;
