#version 330 core
// The colour stage of the whole picture: hue, saturation, contrast, brightness, master and
// flash folded into one 3x3 matrix and offset (computed once per frame on the CPU), then the
// crossfade from the frame held when a cut was asked to fade.
in vec2 image_uv;
out vec4 colour;

uniform sampler2D picture;
uniform sampler2D held;         // the frame a crossfade starts from
uniform mat3 matrix;
uniform vec3 offset;
uniform float fade;             // 0 = all `held`, 1 = all new (no fade running)

void main() {
    vec3 rgb = clamp(matrix * texture(picture, image_uv).rgb + offset, 0.0, 1.0);
    if (fade < 1.0) rgb = mix(texture(held, image_uv).rgb, rgb, fade);
    colour = vec4(rgb, 1.0);
}
