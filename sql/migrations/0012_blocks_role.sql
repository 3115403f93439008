-- Users who registered through the Blocks surface have the role `blocks` and reach only that
-- surface until an administrator gives them more (another role, a privilege or a group).
ALTER TABLE user_roles DROP CONSTRAINT user_roles_role_check;
ALTER TABLE user_roles ADD CONSTRAINT user_roles_role_check
    CHECK (role IN ('admin', 'engineering', 'support', 'apiwrite', 'apiread', 'operations', 'blocks'));

-- Earlier Blocks registrations: only they set a display name, and they had nothing else.
INSERT INTO user_roles (user_id, role)
SELECT u.id, 'blocks' FROM users u
WHERE u.display_name IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id)
  AND NOT EXISTS (SELECT 1 FROM user_privileges p WHERE p.user_id = u.id)
  AND NOT EXISTS (SELECT 1 FROM group_members g WHERE g.user_id = u.id);
