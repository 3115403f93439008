-- Itential workflows are found by name, which is unique among them.
CREATE UNIQUE INDEX workflows_itential_name ON workflows (name) WHERE surface = 'itential';
