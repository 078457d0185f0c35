-- The CUDA toolkits users may choose, the oldest driver each needs, and how each backend provides it.

CREATE TABLE cuda_toolkits (
    version         varchar(16) PRIMARY KEY,
    minimum_driver  varchar(32) NOT NULL,
    -- backend name → how that backend provides it (a path, an image tag, a module, a user_options value)
    provisions      jsonb       NOT NULL
);

INSERT INTO cuda_toolkits (version, minimum_driver, provisions) VALUES
('12.4', '550.54.14', '{"local": "/usr/local/cuda-12.4", "jupyterhub": "12.4", "slurm": "/usr/local/cuda-12.4", "docker": "portal-cuda:12.4", "lxd": "portal-cuda-12-4"}'),
('12.1', '530.30.02', '{"local": "/usr/local/cuda-12.1", "jupyterhub": "12.1", "slurm": "/usr/local/cuda-12.1", "docker": "portal-cuda:12.1", "lxd": "portal-cuda-12-1"}'),
('11.8', '520.61.05', '{"local": "/usr/local/cuda-11.8", "jupyterhub": "11.8", "slurm": "/usr/local/cuda-11.8", "docker": "portal-cuda:11.8", "lxd": "portal-cuda-11-8"}');

-- A toolkit switch of a running server: stop, then start again with the new toolkit.
ALTER TABLE user_servers ADD COLUMN restart_after_stop boolean NOT NULL DEFAULT false;
