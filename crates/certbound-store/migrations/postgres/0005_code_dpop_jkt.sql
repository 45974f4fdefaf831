-- certbound schema version 5: an authorization code may be bound to a DPoP key (RFC 9449 §10,
-- FAPI 2.0 §5.3.2.1-12): `dpop_jkt` is the RFC 7638 thumbprint from the pushed request's
-- `dpop_jkt` parameter or its DPoP proof; the token request must carry a proof by that key.
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;
