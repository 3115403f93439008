-- Sign-ins in progress through the Portal's OAuth pages (the ArcGIS clients' implicit flow):
-- the authorize page hands out an oauth_state, the sign-in form spends it once. Another
-- instance may serve each step, so they live here; a row lasts ten minutes.
CREATE TABLE wm_portal_sign_ins (
    oauth_state  text PRIMARY KEY,
    client_state text NOT NULL,
    redirect_uri text NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX wm_portal_sign_ins_expiry ON wm_portal_sign_ins (expires_at);
