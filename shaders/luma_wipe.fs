/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Luma-keyed wipe: the new picture eats into the old one through its darkest parts first (or brightest, inverted), so shapes in the image lead the cut; a coloured seam glows where they meet.",
    "CREDIT": "live project",
    "CATEGORIES": ["Transition"],
    "INPUTS": [
        {"NAME": "startImage", "TYPE": "image", "LABEL": "From"},
        {"NAME": "endImage", "TYPE": "image", "LABEL": "To"},
        {"NAME": "progress", "TYPE": "float", "LABEL": "Progress", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.0},
        {"NAME": "softness", "TYPE": "float", "LABEL": "Edge softness", "MIN": 0.01, "MAX": 0.5, "DEFAULT": 0.1},
        {"NAME": "keyFromEnd", "TYPE": "bool", "LABEL": "Key on the new picture", "DEFAULT": false},
        {"NAME": "brightFirst", "TYPE": "bool", "LABEL": "Brightest parts first", "DEFAULT": false},
        {"NAME": "seamColor", "TYPE": "color", "LABEL": "Seam colour", "DEFAULT": [1.0, 0.4, 0.1, 1.0]},
        {"NAME": "seamGlow", "TYPE": "float", "LABEL": "Seam glow", "MIN": 0.0, "MAX": 2.0, "DEFAULT": 0.8}
    ]
}*/

// Cost: two texture fetches per pixel (both pictures).

void main() {
    vec4 from = IMG_THIS_NORM_PIXEL(startImage);
    vec4 to = IMG_THIS_NORM_PIXEL(endImage);
    vec3 keyed = keyFromEnd ? to.rgb : from.rgb;
    float key = dot(keyed, vec3(0.2126, 0.7152, 0.0722));
    if (brightFirst) key = 1.0 - key;
    // the edge runs from below 0 to above 1 + softness, so progress 0 and 1 are clean cuts
    float edge = progress * (1.0 + softness);
    float reveal = smoothstep(key, key + softness, edge);
    float seam = 4.0 * reveal * (1.0 - reveal) * seamGlow;
    gl_FragColor = vec4(mix(from.rgb, to.rgb, reveal) + seamColor.rgb * seam, 1.0);
}
