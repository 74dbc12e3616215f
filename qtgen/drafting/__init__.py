"""A question or a published page in, a draft out: drafting (`drafter`), revisions of published pages
(`revision`), the site's duplicate clusters (`site_duplicates`), the model's word on near-duplicates
(`near_duplicates`), and what made each version (`records`)."""
