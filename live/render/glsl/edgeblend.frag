#version 330 core
// One edge-blend ramp of a projector that overlaps its neighbour, drawn over the finished
// output (text included) with multiplicative blending (dst * src), scissored to the strip.
// The light weight runs 0..1 as smoothstep(t), so two ramps facing each other (t, 1 - t) add
// up to 1; the pixel value is scaled by weight^(1/gamma) so that the projector, whose light
// is value^gamma, gives that weight in light (live/render/tile.py, `blend_weight`).
in vec2 image_uv;
out vec4 colour;

uniform vec2 target_size;       // output pixels
uniform vec3 ramp;              // start (px), length (px, negative: backwards), axis (0 x, 1 y)
uniform float inv_gamma;

void main() {
    vec2 pixel = image_uv * target_size;                 // y down from the top left
    float along = ramp.z < 0.5 ? pixel.x : pixel.y;
    float t = clamp((along - ramp.x) / ramp.y, 0.0, 1.0);
    float weight = t * t * (3.0 - 2.0 * t);
    colour = vec4(vec3(pow(weight, inv_gamma)), 1.0);
}
