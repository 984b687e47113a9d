"""Panels and preferences (registration order: registration.py). Never imports operators/
(nor operators/ this): both use ../strings.py and ../common/; panels reach properties and
operators through bpy (context.scene.facespace, layout.operator("facespace...."))."""
