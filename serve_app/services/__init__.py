"""What the routes call: accounts and tokens (auth), the records database, the job service (submits
and tracks Ray Jobs), plans (a parse result made into a TrainingConfig), quotas and request rates
(limits), model search (registry), and the Platform object that holds them in an ingress replica."""
