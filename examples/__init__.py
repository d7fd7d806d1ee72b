"""artgan's bundled examples: the recipes (*.toml) and plugin-template/, shipped as package data.

`artgan recipes` lists the recipes, `artgan run NAME` runs one by name and `artgan new-plugin`
copies the template; artgan.bundled finds them.
"""
